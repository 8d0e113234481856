"""Fetch a window of tickets into the raw store (plain Python; the raw_tickets asset calls it).

Conversations are fetched only for tickets whose `updated_at` differs from the stored record:
an unchanged ticket costs no extra API call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from fd_pipeline.freshdesk import Conversation, FreshdeskClient, FreshdeskError, FreshdeskNotFound, MalformedItem, Ticket
from fd_pipeline.sync.engine import Report, record_failures
from fd_pipeline.sync.failures import malformed_result
from fd_pipeline.sync_state import ItemResult, RawRecord, SyncStore

from .texts import ticket_record

log = logging.getLogger(__name__)
COLLECTION = "support_tickets"
_FLUSH = 100


def fetch_tickets(
    client: FreshdeskClient,
    store: SyncStore,
    *,
    start: datetime,
    end: datetime,
    retry_ids: Iterable[str] = (),
    run_id: str | None = None,
    partition_key: str | None = None,
) -> Report:
    """Store every ticket updated in `[start, end)` (deleted and spam ones as removed), and re-read
    the tickets whose fetch failed before (the retry queue)."""
    report = Report()
    started = time.perf_counter()
    failures: list[ItemResult] = []
    pending: list[Ticket] = []

    def flush(force: bool = False) -> None:
        if pending:
            _store_live(client, store, pending, report, failures, run_id, partition_key, force=force)
            pending.clear()

    for item in client.iter_tickets_updated(start=start, end=end):
        report.add("fetched")
        if isinstance(item, MalformedItem):
            failures.append(malformed_result(item))
            continue
        pending.append(item)
        if len(pending) >= _FLUSH:
            flush()
    flush()

    removed: list[RawRecord] = []
    for item in client.iter_removed_tickets(start=start, end=end):
        report.add("fetched")
        if isinstance(item, MalformedItem):
            failures.append(malformed_result(item))
            continue
        removed.append(RawRecord(str(item.id), item.updated_at, ticket_record(item, None), removed=True))
    store.put_raw("ticket", removed, run_id=run_id, partition_key=partition_key)
    report.add("removed", len(removed))

    for item_id in retry_ids:
        report.add("retried")
        try:
            ticket = client.get_ticket(int(item_id))
        except FreshdeskNotFound:
            # Gone for good (hard-deleted): nothing left to sync.
            store.record_results(COLLECTION, "ticket", [ItemResult(item_id, "deleted", datetime.now(UTC))], run_id=run_id, partition_key=partition_key)
            continue
        except FreshdeskError as exc:
            if "cannot be parsed" not in str(exc):
                raise
            failures.append(ItemResult(item_id, "failed", None, error=str(exc), stage="fetch"))
            continue
        pending.append(ticket)
    # A failed ticket is read whole again even when its updated_at did not move.
    flush(force=True)

    record_failures(store, COLLECTION, "ticket", failures, report, run_id=run_id, partition_key=partition_key)
    report.time("fetch", time.perf_counter() - started)
    return report


def _store_live(
    client: FreshdeskClient,
    store: SyncStore,
    tickets: list[Ticket],
    report: Report,
    failures: list[ItemResult],
    run_id: str | None,
    partition_key: str | None,
    *,
    force: bool = False,
) -> None:
    versions = store.raw_versions("ticket", [str(t.id) for t in tickets])
    records: list[RawRecord] = []
    for ticket in tickets:
        stored = versions.get(str(ticket.id))
        if ticket.deleted or ticket.spam:
            # Met through the retry queue: Freshdesk serves deleted tickets by id too.
            records.append(RawRecord(str(ticket.id), ticket.updated_at, ticket_record(ticket, None), removed=True))
            continue
        if stored is not None and stored[0] > ticket.updated_at:
            report.add("unchanged")  # the store already holds a newer version
            continue
        if not force and stored is not None and stored[0] == ticket.updated_at and not stored[1]:
            report.add("unchanged")
            continue
        conversations: list[Conversation] = []
        bad: MalformedItem | None = None
        try:
            for conv in client.iter_conversations(ticket.id):
                if isinstance(conv, MalformedItem):
                    bad = conv
                else:
                    conversations.append(conv)
        except FreshdeskNotFound:
            log.info("ticket %s disappeared while its conversations were read", ticket.id)
            continue
        report.add("conversation_calls")
        if bad is not None:
            failures.append(malformed_result(bad, item_id=str(ticket.id)))
            continue
        report.add("new" if stored is None else "changed")
        records.append(RawRecord(str(ticket.id), ticket.updated_at, ticket_record(ticket, conversations)))
    store.put_raw("ticket", records, run_id=run_id, partition_key=partition_key)
