"""What a run reports, per hour and per stage, and when its failures fail an asset.

A single-run range of 24 hours gives every hour its own counts (the items whose `updated_at` falls
in it), which add up to the run's totals; figures of the run as a whole (seconds, API calls) appear
once, on the range's last hour; each asset shows only the keys its stage counts.

The failure ratio divides each stage's failures by the items that stage handled: at the default
FD_MAX_FAILURE_RATIO (0.2), one bad ticket among 100 passes every asset and is recorded as failed;
30 bad among 100 fail the asset of the stage they fail in (fetch, embed, write) after the rest is
written. A long encode call logs what it is doing while it runs.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from fd_pipeline.run_metadata import run_totals
from fd_pipeline.documents import Document
from fd_pipeline.sync.engine import embed_documents
from fd_pipeline.sync.reports import ArticleFetchReport, EmbedReport, TicketFetchReport, WriteReport
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.tickets.collection import TICKETS

from .fixtures.pipeline import TICKET_CHAIN, hour_key

STAGE_KEYS = {
    "raw_tickets": TicketFetchReport.KEYS, "raw_articles": ArticleFetchReport.KEYS,
    "ticket_embeddings": EmbedReport.KEYS, "article_embeddings": EmbedReport.KEYS,
    "support_tickets": WriteReport.KEYS, "kb_procedures": WriteReport.KEYS,
}


def per_hour(result) -> dict[str, dict[str, dict]]:
    """asset -> partition -> metadata values of that hour's materialisation."""
    out: dict[str, dict[str, dict]] = {}
    for event in result.get_asset_materialization_events():
        md = {k: v.value for k, v in event.materialization.metadata.items()}
        out.setdefault(event.asset_key.path[-1], {})[event.partition] = md
    return out


def tickets_by_hour(emu, *, removed: bool | None) -> Counter:
    hours: Counter = Counter()
    for t in emu.desk.tickets.values():
        gone = t.deleted or t.spam
        if removed is None or gone == removed:
            hours[hour_key(datetime.fromtimestamp(t.updated_at, UTC))] += 1
    return hours


def test_each_hour_of_a_range_run_carries_its_own_counts(pipeline_harness, sqlite_url):
    h = pipeline_harness(sqlite_url, tickets=260, articles=6, span_hours=24, rate_window_s=0.5)
    first, last = h.window_keys(24)
    result = h.run(first, last)
    assert result.success
    hours = per_hour(result)
    emu = h.emulator

    fetched, live, removed = (tickets_by_hour(emu, removed=r) for r in (None, False, True))
    raw = hours["raw_tickets"]
    assert len(raw) == 24
    assert {k: md["count_fetched"] for k, md in raw.items()} == {k: fetched.get(k, 0) for k in raw}
    assert {k: md["count_new"] for k, md in hours["support_tickets"].items()} == {k: live.get(k, 0) for k in raw}
    assert {k: md["count_deleted"] for k, md in hours["support_tickets"].items()} == {k: removed.get(k, 0) for k in raw}
    assert {k: md["count_documents"] for k, md in hours["ticket_embeddings"].items()} == {k: live.get(k, 0) for k in raw}
    assert len({md["count_new"] for md in hours["support_tickets"].values()}) > 5  # real per-hour figures, not one flat line

    totals = run_totals(result.get_asset_materialization_events())
    assert totals["raw_tickets"]["count_fetched"] == sum(fetched.values()) == len(emu.desk.tickets)
    assert totals["support_tickets"]["count_new"] == sum(live.values()) == len(h.points(TICKETS))
    embedded = totals["ticket_embeddings"]
    assert embedded["count_texts"] == embedded["count_embedded"] + embedded["count_cached"] + embedded["count_deduplicated"]

    for asset, by_hour in hours.items():
        # Each asset shows only its stage's counts; the run's own figures appear once, on the last hour.
        for key, md in by_hour.items():
            counts = {k[6:] for k in md if k.startswith("count_")}
            assert counts == set(STAGE_KEYS[asset]), (asset, counts)
            run_keys = {k for k in md if not k.startswith("count_")}
            assert bool(run_keys) == (key == last), (asset, key, run_keys)
        assert by_hour[last]["run_hours"] == 24
    assert "run_api_calls" in hours["raw_tickets"][last] and "run_api_calls" not in hours["ticket_embeddings"][last]
    assert "run_seconds_embed" in hours["ticket_embeddings"][last] and "points" in hours["support_tickets"][last]


@pytest.fixture
def hundred(pipeline_harness, sqlite_url):
    """100 tickets updated in one hour, no deletions; the clock then moves into the next hour."""
    h = pipeline_harness(sqlite_url, tickets=100, articles=4, span_hours=1, rate_window_s=0.5, deleted_share=0, spam_share=0)
    h.emulator.clock.advance(60)
    return h


def _window(h) -> tuple[str, str]:
    now = h.emulator.clock.now()
    return hour_key(now - timedelta(hours=1)), hour_key(now)


def _failed(h) -> dict[str, str]:
    return {s.item_id: s.stage for s in h.sync_log().failed_items("support_tickets")}


def _step_failures(result) -> dict[str, str]:
    return {e.step_key: e.step_failure_data.error.message for e in result.get_step_failure_events()}


def test_one_bad_ticket_among_a_hundred_passes_every_asset(hundred):
    emu = hundred.emulator
    malformed, unembeddable = sorted(emu.desk.tickets)[:2]
    emu.corrupt_ticket(malformed, how="bad_field")
    emu.corrupt_ticket(unembeddable, how="unembeddable")
    result = hundred.run(*_window(hundred))  # the default FD_MAX_FAILURE_RATIO
    assert result.success, _step_failures(result)
    assert _failed(hundred) == {str(malformed): "fetch", str(unembeddable): "embed"}
    totals = run_totals(result.get_asset_materialization_events())
    assert totals["raw_tickets"]["count_failed_fetch"] == 1
    assert totals["ticket_embeddings"]["count_failed_embed"] == 1
    assert totals["support_tickets"]["count_failed_write"] == 1  # no vectors for the unembeddable one
    assert len(hundred.points(TICKETS)) == 98


def test_thirty_bad_fetches_fail_raw_tickets_after_storing_the_rest(hundred):
    emu = hundred.emulator
    bad = sorted(emu.desk.tickets)[:30]
    for tid in bad:
        emu.corrupt_ticket(tid, how="bad_field")
    result = hundred.run(*_window(hundred), assets=TICKET_CHAIN, raise_on_error=False)
    failures = _step_failures(result)
    assert list(failures) == ["raw_tickets"]
    assert "30 of 100 tickets failed" in failures["raw_tickets"] and "FD_MAX_FAILURE_RATIO=0.2" in failures["raw_tickets"]
    store = hundred.sync_log()
    assert len(store.raw_ids("ticket")) == 70
    assert _failed(hundred) == {str(t): "fetch" for t in bad}


def test_thirty_unembeddable_fail_embedding_then_writing_after_the_rest(hundred):
    emu = hundred.emulator
    bad = sorted(emu.desk.tickets)[:30]
    for tid in bad:
        emu.corrupt_ticket(tid, how="unembeddable")
    first, last = _window(hundred)
    result = hundred.run(first, last, assets=TICKET_CHAIN, raise_on_error=False)
    failures = _step_failures(result)
    assert list(failures) == ["ticket_embeddings"]
    assert "30 of 100 tickets failed" in failures["ticket_embeddings"]
    assert _failed(hundred) == {str(t): "embed" for t in bad}

    # The collection alone: 70 tickets have their vectors (embedded by the failed step) and are
    # written; the 30 without vectors fail the write stage's ratio.
    collection = [a for a in TICKET_CHAIN if a.key.path[-1] == "support_tickets"]
    result = hundred.run(first, last, assets=collection, raise_on_error=False)
    failures = _step_failures(result)
    assert "30 of 100 tickets failed" in failures["support_tickets"]
    assert len(hundred.points(TICKETS)) == 70


class _SlowModel:
    """The tiny model behind an encode call that takes as long as bge-m3's on a CPU batch."""

    def __init__(self, embedder, seconds: float):
        self._embedder, self._seconds = embedder, seconds
        self.identity = embedder.identity

    def content_hash(self, text: str) -> str:
        return self._embedder.content_hash(text)

    def embed(self, texts, **kwargs):
        time.sleep(self._seconds)
        return self._embedder.embed(texts, **kwargs)


def test_a_long_encode_call_logs_progress_while_it_runs(tiny_embedder, sqlite_url):
    """Progress comes at least every `progress_every` seconds (10 in the assets), not only per batch."""
    docs = [
        Document(str(i), i, datetime(2025, 6, 2, 11, i, tzinfo=UTC), {"symptom": f"printer {i} jams on page {i}"}, {})
        for i in range(5)
    ]
    tiny_embedder.embed(["load the model before the clock starts"])
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    store = SyncLog(sqlite_url)
    try:
        report = embed_documents(
            docs, embedder=_SlowModel(tiny_embedder, 1.0), sync_log=store, collection="support_tickets",
            item_type="ticket", run_id=None, partition_key=None, progress=lambda m: lines.append((time.monotonic() - started, m)),
            progress_every=0.2,
        )
    finally:
        store.close()
    assert report.counts["embedded"] == 5
    during = [m for _, m in lines if "embedding 5 texts for" in m]
    assert len(during) >= 3, lines
    gaps = [b - a for (a, _), (b, _) in zip(lines, lines[1:], strict=False)]
    assert max(gaps) < 1.0, lines  # five intervals of slack for a loaded CI machine
