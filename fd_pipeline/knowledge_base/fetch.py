"""Read the whole KB tree into the raw store and notice what left it (plain Python).

Articles have no `updated_since`: every run lists the tree and compares it with the store.
An article that is gone from the listing (deleted, or moved out of the synced categories) and a
draft (unpublished) are stored as removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fd_pipeline.freshdesk import FreshdeskClient, MalformedItem
from fd_pipeline.sync.reports import ArticleFetchReport
from fd_pipeline.sync.failures import item_updated_at, malformed_result
from fd_pipeline.sync.fetch import fetch_session
from fd_pipeline.sync_log import RawRecord, SyncLog
from fd_pipeline.knowledge_base.collection import KB

from .texts import PUBLISHED, article_key, article_record

log = logging.getLogger(__name__)


def fetch_articles(
    client: FreshdeskClient,
    store: SyncLog,
    *,
    languages: tuple[str, ...] = (),
    category_ids: tuple[int, ...] | None = None,
    include_drafts: bool = False,
    run_id: str | None = None,
    partition_key: str | None = None,
    report: ArticleFetchReport | None = None,
    progress: Callable[[str], None] | None = None,
) -> ArticleFetchReport:
    """Store every listed article (drafts as removed unless `include_drafts`) and store as removed
    each stored article the listing no longer has."""
    report = report if report is not None else ArticleFetchReport()
    session = fetch_session(client, store, report, collection=KB.name, run_id=run_id, partition_key=partition_key, progress=progress)
    with session as failures:
        seen: set[str] = set()
        unknown_malformed = False
        listed: list[RawRecord] = []
        for item in client.iter_kb_articles(languages=languages, category_ids=category_ids):
            report.add("fetched", at=item_updated_at(item))
            if isinstance(item, MalformedItem):
                failures.append(malformed_result(item))
                if item.item_id is None:
                    unknown_malformed = True
                else:
                    seen.add(item.item_id)
                continue
            key = article_key(item)
            seen.add(key)
            removed = not include_drafts and item.status != PUBLISHED
            listed.append(RawRecord(key, item.updated_at, article_record(item), removed=removed))

        versions = store.raw_versions("kb_article", [r.item_id for r in listed])
        changed = []
        for record in listed:
            stored = versions.get(record.item_id)
            if stored == (record.source_updated_at, record.removed):
                report.add("unchanged", at=record.source_updated_at)
            elif stored is None:
                report.add("new", at=record.source_updated_at)
                changed.append(record)
            else:
                report.add("changed", at=record.source_updated_at)
                changed.append(record)
        store.put_raw("kb_article", changed, run_id=run_id, partition_key=partition_key)

        gone_ids = store.raw_ids("kb_article", removed=False) - seen
        if unknown_malformed and gone_ids:
            # An article we could not identify might be one of these: removing them could lose data.
            log.warning("not removing %d KB articles this run: a malformed article had no id", len(gone_ids))
            gone_ids = set()
        now = datetime.now(UTC)
        gone = [
            RawRecord(r.item_id, max(now, r.source_updated_at + timedelta(seconds=1)), r.record, removed=True)
            for r in store.get_raw("kb_article", sorted(gone_ids)).values()
        ]
        store.put_raw("kb_article", gone, run_id=run_id, partition_key=partition_key)
        for record in [*gone, *(r for r in changed if r.removed)]:
            report.add("removed", at=record.source_updated_at)
    return report
