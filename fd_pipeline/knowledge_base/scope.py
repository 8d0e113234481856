"""Which KB documents a run handles: all of them (a KB is small, and has no updated_since)."""

from __future__ import annotations

from collections.abc import Iterator

from fd_pipeline.sync.documents import Document
from fd_pipeline.sync_state import ItemResult, SyncStore

from .texts import article_document


def article_documents(
    store: SyncStore, *, failures: list[ItemResult] | None = None
) -> Iterator[Document]:
    for batch in store.iter_raw("kb_article"):
        for record in batch:
            try:
                yield article_document(record.record, removed=record.removed)
            except (KeyError, TypeError, ValueError) as exc:
                if failures is not None:
                    failures.append(
                        ItemResult(record.item_id, "failed", record.source_updated_at, error=f"stored record: {exc}", stage="parse")
                    )
