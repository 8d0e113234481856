"""Which ticket documents a run handles: the window's, the retry queue's, and any left on an old model.

The embedding step builds them from the raw records in scope (`ticket_documents`); the collection
step reads the same scope back from the documents the embedding step kept (`kept_ticket_documents`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from fd_pipeline.documents import Document
from fd_pipeline.sync.failures import unreadable_result
from fd_pipeline.sync_log import ItemResult, RawRecord, SyncLog
from fd_pipeline.tickets.collection import TICKETS

from .texts import ticket_document

_IDS_PER_READ = 500

Item = TypeVar("Item", RawRecord, Document)


def ticket_documents(
    store: SyncLog,
    *,
    start: datetime | None,
    end: datetime | None,
    model: str,
    cause_field: str | None = None,
    failures: list[ItemResult] | None = None,
) -> Iterator[Document]:
    """Build the documents in scope from the raw records; records that do not parse go to `failures`."""

    def build(record: RawRecord) -> Document | None:
        try:
            return ticket_document(record.record, removed=record.removed, cause_field=cause_field)
        except (KeyError, TypeError, ValueError) as exc:
            if failures is not None:
                failures.append(unreadable_result(record, exc))
            return None

    window = (record for batch in store.iter_raw("ticket", start=start, end=end) for record in batch)
    return _in_scope(store, model, window, lambda ids: store.get_raw("ticket", ids).values(), build)


def kept_ticket_documents(store: SyncLog, *, start: datetime | None, end: datetime | None, model: str) -> Iterator[Document]:
    """The documents in scope as the embedding step kept them."""
    window = store.iter_documents(TICKETS.name, start=start, end=end)
    return _in_scope(store, model, window, lambda ids: store.get_documents(TICKETS.name, ids).values(), lambda doc: doc)


def _in_scope(
    store: SyncLog,
    model: str,
    window: Iterable[Item],
    by_ids: Callable[[list[str]], Iterable[Item]],
    build: Callable[[Item], Document | None],
) -> Iterator[Document]:
    """The window's items, then those of failed tickets and of tickets synced by another model, each once."""
    seen: set[str] = set()

    def once(items: Iterable[Item]) -> Iterator[Document]:
        for item in items:
            if item.item_id not in seen:
                seen.add(item.item_id)
                if (doc := build(item)) is not None:
                    yield doc

    yield from once(window)
    extra = [s.item_id for s in store.failed_items(TICKETS.name)] + store.stale_model_ids(TICKETS.name, model)
    for i in range(0, len(extra), _IDS_PER_READ):
        yield from once(by_ids(extra[i : i + _IDS_PER_READ]))
