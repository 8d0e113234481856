"""What both fetchers (tickets, KB articles) do around their listing: progress lines, the rate
window the last run learnt, the failures to log, the time spent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fd_pipeline.freshdesk import FreshdeskClient
from fd_pipeline.sync_log import ItemResult, SyncLog

from .engine import record_failures
from .reports import FetchReport


@contextmanager
def fetch_session(
    client: FreshdeskClient,
    store: SyncLog,
    report: FetchReport,
    *,
    collection: str,
    run_id: str | None,
    partition_key: str | None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[list[ItemResult]]:
    """Set the client up for a fetch (progress sink, recalled rate window) and yield the list the
    fetch appends its failed items to; afterwards log those, keep the rate window for the next
    run and time the fetch. An exception skips the ending: the run failed as a whole."""
    started = time.perf_counter()
    if progress is not None:
        client.progress = progress
    client.recall_rate_window(store)
    failures: list[ItemResult] = []
    yield failures
    record_failures(store, collection, report.item_type, failures, report, run_id=run_id, partition_key=partition_key)
    client.remember_rate_window(store)
    client.report_progress(force=True, now="done")
    report.time("fetch", time.perf_counter() - started)
