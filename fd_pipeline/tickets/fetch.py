"""Fetch a window of tickets into the raw store (plain Python; the raw_tickets asset calls it).

Conversations are fetched only for tickets whose `updated_at` differs from the stored record:
an unchanged ticket costs no extra API call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from fd_pipeline.freshdesk import Conversation, FreshdeskClient, FreshdeskNotFound, MalformedItem, Ticket
from fd_pipeline.freshdesk.errors import FreshdeskMalformedResponse
from fd_pipeline.sync.reports import TicketFetchReport
from fd_pipeline.sync.failures import item_updated_at, malformed_result
from fd_pipeline.sync.fetch import fetch_session
from fd_pipeline.sync_log import ItemResult, RawRecord, SyncLog
from fd_pipeline.tickets.collection import TICKETS

from .texts import ticket_record

log = logging.getLogger(__name__)
_FLUSH = 100


def fetch_tickets(
    client: FreshdeskClient,
    store: SyncLog,
    *,
    start: datetime,
    end: datetime,
    retry_ids: Iterable[str] = (),
    run_id: str | None = None,
    partition_key: str | None = None,
    conversation_workers: int = 4,
    report: TicketFetchReport | None = None,
    progress: Callable[[str], None] | None = None,
) -> TicketFetchReport:
    """Store every ticket updated in `[start, end)` (deleted and spam ones as removed), and re-read
    the tickets whose fetch failed before (the retry queue). `progress` gets a line every ~10 s."""
    report = report if report is not None else TicketFetchReport()
    pending: list[Ticket] = []
    session = fetch_session(client, store, report, collection=TICKETS.name, run_id=run_id, partition_key=partition_key, progress=progress)
    workers = ThreadPoolExecutor(max_workers=max(1, conversation_workers), thread_name_prefix="fd-conversations")
    with session as failures, workers as pool:

        def flush(force: bool = False) -> None:
            if pending:
                _store_live(client, store, pending, report, failures, run_id, partition_key, pool, force=force)
                pending.clear()

        for ticket in _well_formed(client.iter_tickets_updated(start=start, end=end), report, failures):
            pending.append(ticket)
            if len(pending) >= _FLUSH:
                flush()
        flush()

        removed = [
            RawRecord(str(ticket.id), ticket.updated_at, ticket_record(ticket), removed=True)
            for ticket in _well_formed(client.iter_removed_tickets(start=start, end=end), report, failures)
        ]
        store.put_raw("ticket", removed, run_id=run_id, partition_key=partition_key)
        for record in removed:
            report.add("removed", at=record.source_updated_at)

        for item_id in retry_ids:
            try:
                ticket = client.get_ticket(int(item_id))
            except FreshdeskNotFound:
                # Gone for good (hard-deleted): nothing left to sync.
                report.add("retried")
                store.record_results(TICKETS.name, "ticket", [ItemResult(item_id, "deleted", datetime.now(UTC))],
                                     run_id=run_id, partition_key=partition_key)
                continue
            except FreshdeskMalformedResponse as exc:
                report.add("retried")
                failures.append(ItemResult(item_id, "failed", None, error=str(exc), stage="fetch"))
                continue
            report.add("retried", at=ticket.updated_at)
            pending.append(ticket)
        # A failed ticket is read whole again even when its updated_at did not move.
        flush(force=True)
    return report


def _well_formed(
    items: Iterable[Ticket | MalformedItem], report: TicketFetchReport, failures: list[ItemResult]
) -> Iterator[Ticket]:
    """The listed tickets that parsed; every listed item counts as fetched, a malformed one goes to `failures`."""
    for item in items:
        report.add("fetched", at=item_updated_at(item))
        if isinstance(item, MalformedItem):
            failures.append(malformed_result(item))
        else:
            yield item


def _store_live(
    client: FreshdeskClient,
    store: SyncLog,
    tickets: list[Ticket],
    report: TicketFetchReport,
    failures: list[ItemResult],
    run_id: str | None,
    partition_key: str | None,
    pool: ThreadPoolExecutor,
    *,
    force: bool = False,
) -> None:
    versions = store.raw_versions("ticket", [str(t.id) for t in tickets])
    records: list[RawRecord] = []
    wanted: list[Ticket] = []
    for ticket in tickets:
        stored = versions.get(str(ticket.id))
        if ticket.deleted or ticket.spam:
            # Met through the retry queue: Freshdesk serves deleted tickets by id too.
            records.append(RawRecord(str(ticket.id), ticket.updated_at, ticket_record(ticket), removed=True))
        elif stored is not None and stored[0] > ticket.updated_at:
            report.add("unchanged", at=ticket.updated_at)  # the store already holds a newer version
        elif not force and stored is not None and stored[0] == ticket.updated_at and not stored[1]:
            report.add("unchanged", at=ticket.updated_at)
        else:
            wanted.append(ticket)
    # Conversations are one call per changed ticket: read a few at a time (the client's pacer
    # keeps the account under its rate limit), in the listing's order.
    for ticket, outcome in zip(wanted, pool.map(lambda t: _conversations(client, t), wanted), strict=True):
        if outcome is None:
            log.info("ticket %s disappeared while its conversations were read", ticket.id)
            continue
        report.add("conversation_calls", at=ticket.updated_at)
        if isinstance(outcome, MalformedItem):
            failures.append(malformed_result(outcome, item_id=str(ticket.id)))
            continue
        report.add("new" if str(ticket.id) not in versions else "changed", at=ticket.updated_at)
        records.append(RawRecord(str(ticket.id), ticket.updated_at, ticket_record(ticket, outcome)))
    store.put_raw("ticket", records, run_id=run_id, partition_key=partition_key)


def _conversations(client: FreshdeskClient, ticket: Ticket) -> list[Conversation] | MalformedItem | None:
    """All conversations of a ticket; the first malformed one instead if any; None if the ticket is gone."""
    conversations: list[Conversation] = []
    try:
        for conv in client.iter_conversations(ticket.id):
            if isinstance(conv, MalformedItem):
                return conv
            conversations.append(conv)
    except FreshdeskNotFound:
        return None
    return conversations
