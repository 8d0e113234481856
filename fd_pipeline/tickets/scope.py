"""Which ticket documents a run handles: the window's, the retry queue's, and any left on an old model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from fd_pipeline.sync.documents import Document
from fd_pipeline.sync_log import ItemResult, RawRecord, SyncLog

from .texts import ticket_document

COLLECTION = "support_tickets"


def ticket_documents(
    store: SyncLog,
    *,
    start: datetime,
    end: datetime,
    model: str,
    cause_field: str | None = None,
    failures: list[ItemResult] | None = None,
) -> Iterator[Document]:
    """Stream the documents in scope; records that do not parse go to `failures`."""
    seen: set[str] = set()

    def build(record: RawRecord) -> Document | None:
        if record.item_id in seen:
            return None
        seen.add(record.item_id)
        try:
            return ticket_document(record.record, removed=record.removed, cause_field=cause_field)
        except (KeyError, TypeError, ValueError) as exc:
            if failures is not None:
                failures.append(ItemResult(record.item_id, "failed", record.source_updated_at, error=f"stored record: {exc}", stage="parse"))
            return None

    for batch in store.iter_raw("ticket", start=start, end=end):
        for record in batch:
            if (doc := build(record)) is not None:
                yield doc
    extra = [s.item_id for s in store.failed_items(COLLECTION)] + store.stale_model_ids(COLLECTION, model)
    for i in range(0, len(extra), 500):
        for record in store.get_raw("ticket", extra[i : i + 500]).values():
            if (doc := build(record)) is not None:
                yield doc
