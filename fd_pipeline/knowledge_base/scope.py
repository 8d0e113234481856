"""Which KB documents a run handles: all of them (a KB is small, and has no updated_since).

The embedding step builds them from the raw records (`article_documents`) and keeps them all; the
collection step reads them back with `SyncLog.iter_documents(KB.name)`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from fd_pipeline.documents import Document
from fd_pipeline.sync.failures import unreadable_result
from fd_pipeline.sync_log import ItemResult, SyncLog
from fd_pipeline.knowledge_base.collection import KB, kb_item_id

from .texts import article_documents as record_documents
from .texts import parse_section_item_id, section_point_id


def article_documents(
    store: SyncLog, *, failures: list[ItemResult] | None = None
) -> Iterator[Document]:
    """Every stored article's section documents, then a removed document for each section the
    sync log still holds as synced that no article has any more (an article that got shorter,
    or was removed): the sync log and the collection lose it as they lose a removed article."""
    produced: set[str] = set()
    unreadable: set[str] = set()
    for batch in store.iter_raw("kb_article"):
        for record in batch:
            try:
                docs = record_documents(record.record, removed=record.removed)
            except (KeyError, TypeError, ValueError) as exc:
                unreadable.add(record.item_id)
                if failures is not None:
                    failures.append(unreadable_result(record, exc))
                continue
            for doc in docs:
                if not doc.removed:
                    produced.add(doc.item_id)
                yield doc
    yield from _vanished_sections(store, produced, unreadable)


def _vanished_sections(store: SyncLog, produced: set[str], unreadable: set[str]) -> Iterator[Document]:
    leftovers = sorted(i for i in store.synced_ids(KB.name) - produced if "#" in i)
    states = store.get_items(KB.name, leftovers) if leftovers else {}
    for item_id in leftovers:
        parsed = parse_section_item_id(item_id)
        # A section of an article whose stored record cannot be read stays: it may be fine.
        if parsed is None or kb_item_id(parsed[0], parsed[1]) in unreadable:
            continue
        state = states.get(item_id)
        updated = getattr(state, "source_updated_at", None) or datetime.now(UTC)
        yield Document(item_id=item_id, point_id=section_point_id(*parsed), source_updated_at=updated,
                       texts={}, payload={}, removed=True)
