"""The pipeline end to end on real components: the emulator over HTTP, Qdrant local mode on disk,
the sync log on SQLite and Postgres, FlagEmbedding on the tiny bge-m3-shaped model.

Materialising partitions fills both collections with exactly the emulator's live items and the
right vectors; a re-run computes nothing and changes nothing; mutations flow through; a range
beyond the 300-page cap completes in one run; bad items fail alone and are retried; an
unreachable service fails the run with its name, and the next run repairs everything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from fd_pipeline.run_metadata import run_totals
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

from .fixtures.pipeline import TICKET_CHAIN, hour_key


def counts(result, asset: str) -> dict[str, float]:
    """An asset's figures for the whole run: per-hour counts summed, run figures as reported once."""
    return run_totals(result.get_asset_materialization_events()).get(asset, {})


def live_tickets(emu, start: datetime, end: datetime) -> dict[int, object]:
    lo, hi = start.timestamp(), end.timestamp()
    return {t.id: t for t in emu.desk.tickets.values() if not t.deleted and not t.spam and lo <= t.updated_at < hi}


def published_articles(emu) -> set[int]:
    return {a.id for a in emu.desk.articles.values() if a.status == 2}


def kb_articles(harness) -> set[int]:
    """Articles with points in kb_procedures (an article has one point per body section)."""
    return {payload["article_id"] for payload, _ in harness.points(KB).values()}


def expected_vectors(emu, ticket) -> set[str]:
    convs = emu.desk.conversations(ticket.id)
    names = {"symptom_vec", "symptom_sparse"}
    if any(c.private for c in convs):
        names |= {"cause_vec", "cause_sparse"}
    if ticket.status in (4, 5) and any(not c.incoming and not c.private for c in convs):
        names |= {"resolution_vec", "resolution_sparse"}
    return names


def failure_message(result) -> str:
    """Every step failure's message with the errors that caused it."""
    lines = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            lines.append(error.message)
            error = error.cause
    return "\n".join(lines)


@pytest.fixture
def small(pipeline_harness, db_url):
    return pipeline_harness(db_url, tickets=90, articles=16, span_hours=6, rate_window_s=2.0)


def test_partitions_fill_collections_then_rerun_changes_nothing(small):
    first, last = small.window_keys(6)
    result = small.run(first, last)
    assert result.success
    now = small.emulator.clock.now()
    expected = live_tickets(small.emulator, now - timedelta(hours=6), now)
    points = small.points(TICKETS)
    assert set(points) == set(expected) and len(expected) > 50
    for tid, ticket in expected.items():
        payload, names = points[tid]
        assert names == expected_vectors(small.emulator, ticket), tid
        assert payload["ticket_id"] == tid and payload["subject"] == ticket.subject
    assert {"resolution_vec"} <= set().union(*(n for _, n in points.values()))
    assert kb_articles(small) == published_articles(small.emulator)
    store = small.sync_log()
    assert store.counts("support_tickets")["synced"] == len(expected)
    assert store.last_syncs()["support_tickets"].partition_end == last

    again = small.run(first, last)
    assert again.success
    assert counts(again, "ticket_embeddings").get("count_embedded", 0) == 0
    assert counts(again, "article_embeddings").get("count_embedded", 0) == 0
    assert counts(again, "raw_tickets").get("count_conversation_calls", 0) == 0
    assert counts(again, "support_tickets").get("count_upserted", 0) == 0
    assert small.points(TICKETS) == points


def test_mutations_flow_through(pipeline_harness, sqlite_url):
    h = pipeline_harness(sqlite_url, tickets=90, articles=16, span_hours=6, rate_window_s=2.0)
    h.run(*h.window_keys(6))
    emu = h.emulator
    live = sorted(live_tickets(emu, emu.clock.now() - timedelta(hours=6), emu.clock.now()).values(), key=lambda t: t.id)
    open_tickets = [t for t in live if t.status == 2]
    emu.clock.advance(60)
    current = hour_key(emu.clock.now())

    status_only = open_tickets[0]
    emu.update_ticket(status_only.id, status=3)
    result = h.run(current)
    assert counts(result, "ticket_embeddings").get("count_embedded", 0) == 0
    assert h.points(TICKETS)[status_only.id][0]["status"] == 3

    edited, replied, deleted, spammed = open_tickets[1], open_tickets[2], live[-1], live[-2]
    before = h.points(TICKETS)
    emu.update_ticket(edited.id, subject="Printer driver crashes when exporting invoices to PDF")
    emu.resolve_ticket(replied.id, body="Reinstalling the 2.4 driver and clearing the spool fixed it.")
    emu.delete_ticket(deleted.id)
    emu.spam_ticket(spammed.id)
    unpublished = sorted(published_articles(emu))[0]
    emu.unpublish_article(unpublished)
    result = h.run(current)
    assert result.success
    after = h.points(TICKETS)
    assert after[edited.id][0]["subject"].startswith("Printer driver")
    assert after[edited.id][0]["content_hashes"]["symptom"] != before[edited.id][0]["content_hashes"]["symptom"]
    assert "resolution_vec" in after[replied.id][1] and "resolution_vec" not in before[replied.id][1]
    assert after[replied.id][1] >= before[replied.id][1]  # gained a vector, lost none
    assert deleted.id not in after and spammed.id not in after
    assert unpublished not in kb_articles(h)
    assert counts(result, "ticket_embeddings")["count_embedded"] >= 2

    emu.clock.advance(60)
    emu.restore_ticket(deleted.id)
    assert h.run(current).success
    assert deleted.id in h.points(TICKETS)
    states = h.sync_log().get_items("support_tickets", [str(deleted.id), str(spammed.id)])
    assert states[str(deleted.id)].status == "synced" and states[str(spammed.id)].status == "deleted"


def test_single_run_backfill_beyond_the_page_cap(pipeline_harness, sqlite_url):
    """per_page=1 makes 300 pages cover 300 tickets: a window of 330 must walk past the cap."""
    h = pipeline_harness(sqlite_url, tickets=340, articles=4, span_hours=3, rate_window_s=0.5, deleted_share=0, spam_share=0)
    h.freshdesk_overrides = {"per_page": 1}
    first, last = h.window_keys(3)
    result = h.run(first, last, assets=TICKET_CHAIN)
    assert result.success
    now = h.emulator.clock.now()
    expected = live_tickets(h.emulator, now - timedelta(hours=3), now)
    assert len(expected) > 300
    assert set(h.points(TICKETS)) == set(expected)
    assert counts(result, "raw_tickets")["run_api_calls"] > 300


def test_bad_items_fail_alone_and_are_retried(pipeline_harness, sqlite_url):
    h = pipeline_harness(sqlite_url, tickets=60, articles=4, span_hours=4, rate_window_s=2.0)
    h.settings = {"max_failure_ratio": 1.0}
    h.run(*h.window_keys(4))
    emu = h.emulator
    live = sorted(live_tickets(emu, emu.clock.now() - timedelta(hours=4), emu.clock.now()))
    malformed, unembeddable, fine = live[:3]
    emu.clock.advance(60)
    emu.corrupt_ticket(malformed, how="bad_field")
    emu.corrupt_ticket(unembeddable, how="unembeddable")
    emu.update_ticket(fine, subject="VPN drops every 10 minutes on the new firmware")
    current = hour_key(emu.clock.now())
    assert h.run(current).success
    store = h.sync_log()
    failed = {s.item_id: s for s in store.failed_items("support_tickets")}
    assert set(failed) == {str(malformed), str(unembeddable)}
    assert failed[str(malformed)].stage == "fetch" and "malformed ticket" in failed[str(malformed)].error
    assert failed[str(unembeddable)].stage == "embed" and "embedding failed" in failed[str(unembeddable)].error
    assert h.points(TICKETS)[fine][0]["subject"].startswith("VPN drops")

    # The failure ratio fails the asset, but only after everything else was written.
    h.settings = {"max_failure_ratio": 0.0}
    strict = h.run(current, raise_on_error=False)
    assert not strict.success and "FD_MAX_FAILURE_RATIO" in failure_message(strict)

    emu.repair_ticket(malformed)
    emu.repair_ticket(unembeddable)
    h.settings = {"max_failure_ratio": 1.0}
    earlier = hour_key(emu.clock.now() - timedelta(hours=3))  # any partition retries the queue
    assert h.run(earlier).success
    assert store.failed_items("support_tickets") == []
    points = h.points(TICKETS)
    assert malformed in points and unembeddable in points


def test_a_429_storm_is_waited_out_within_the_budget(pipeline_harness, sqlite_url):
    """The emulator answers 20 requests in a row on the KB's category list with 429, Retry-After 1
    each (a real Freshdesk under a burst): the run waits them out and syncs every item. With a budget
    below what the server asks (6 s of 20), the run fails with one line naming the setting."""
    from fd_pipeline.emulator import FaultConfig

    h = pipeline_harness(sqlite_url, tickets=40, articles=8, span_hours=3, rate_window_s=2.0)
    first, last = h.window_keys(3)
    storm = FaultConfig(storm_429={"/api/v2/solutions/categories": 20}, retry_after_s=1)
    h.emulator.set_faults(storm)
    result = h.run(first, last)
    assert result.success
    assert h.emulator.stats.snapshot()["faults"] == {"429": 20}
    kb = counts(result, "raw_articles")
    assert kb["run_api_throttled"] == 20 and kb["run_api_wait_seconds"] >= 20.0
    now = h.emulator.clock.now()
    assert set(h.points(TICKETS)) == set(live_tickets(h.emulator, now - timedelta(hours=3), now))
    assert kb_articles(h) == published_articles(h.emulator)
    print(f"storm: 20 x 429 waited out, raw_articles waited {kb['run_api_wait_seconds']:.1f}s, "
          f"{len(h.points(TICKETS))} tickets and {len(kb_articles(h))} articles synced")

    h.emulator.set_faults(storm)
    h.emulator.stats.reset()
    h.freshdesk_overrides = {"rate_limit_budget_minutes": 0.1}
    short = h.run(first, last, raise_on_error=False)
    assert not short.success
    (line,) = [m for m in failure_message(short).splitlines() if "FRESHDESK_RATE_LIMIT_BUDGET_MINUTES" in m]
    assert "0.1 min" in line and "/api/v2/solutions/categories" in line and "429" in line
    assert h.emulator.stats.snapshot()["faults"]["429"] == 7  # six waits of 1 s fit in 6 s; the 7th would pass
    print(f"budget 0.1 min: {line}")


@pytest.mark.postgres
def test_unreachable_services_fail_by_name_and_a_rerun_repairs(pipeline_harness, stoppable_pg_url, pg_server):
    from fd_pipeline.resources import QdrantResource

    h = pipeline_harness(stoppable_pg_url, tickets=60, articles=8, span_hours=4, rate_window_s=2.0)
    first, last = h.window_keys(4)

    down = h.run(first, last, raise_on_error=False, qdrant=QdrantResource(url="http://127.0.0.1:1"))
    assert not down.success and "127.0.0.1:1" in failure_message(down)

    pg_server.stop()
    try:
        pg_down = h.run(first, last, raise_on_error=False)
    finally:
        pg_server.start()
    message = failure_message(pg_down)
    assert not pg_down.success and f"127.0.0.1:{pg_server.port}" in message and "postgres" in message

    assert h.run(first, last).success
    now = h.emulator.clock.now()
    expected = live_tickets(h.emulator, now - timedelta(hours=4), now)
    points = h.points(TICKETS)
    assert set(points) == set(expected)
    store = h.sync_log()
    assert store.counts("support_tickets") == {"synced": len(expected), "deleted": store.counts("support_tickets")["deleted"], "failed": 0}
    assert kb_articles(h) == published_articles(h.emulator)


def test_model_change_rebuilds_a_new_collection_then_moves_the_alias(pipeline_harness, sqlite_url, tmp_path):
    """A second model never writes into the first one's collection: it re-embeds from the stored
    raw records (no Freshdesk re-read of conversations) and the alias moves once it is complete."""
    from fd_pipeline.embedding import build_tiny_bge_m3
    from fd_pipeline.resources import EmbedderResource

    h = pipeline_harness(sqlite_url, tickets=40, articles=6, span_hours=3, rate_window_s=2.0)
    first, last = h.window_keys(3)
    assert h.run(first, last).success
    before = h.points(TICKETS)
    other = build_tiny_bge_m3(tmp_path / "other-model", seed=1, hidden=48)
    result = h.run(last, embedder=EmbedderResource(model=str(other)))  # one partition is enough
    assert result.success
    assert counts(result, "raw_tickets").get("count_conversation_calls", 0) == 0
    after = h.points(TICKETS)
    assert set(after) == set(before)
    assert {p["model"] for p, _ in after.values()} != {p["model"] for p, _ in before.values()}
    assert kb_articles(h) == published_articles(h.emulator)
    assert h.sync_log().stale_model_ids("support_tickets", next(iter(after.values()))[0]["model"]) == []


def test_the_collection_writes_the_kept_documents_without_parsing_hashing_or_the_model(pipeline_harness, sqlite_url, monkeypatch):
    """support_tickets alone, after the embeddings asset: it reads the documents that asset kept and
    the model's identity; a parse, a content hash or a model load there would fail the run."""
    from fd_pipeline.embedding import Embedder
    from fd_pipeline.tickets import scope

    h = pipeline_harness(sqlite_url, tickets=30, articles=4, span_hours=2, rate_window_s=2.0)
    first, last = h.window_keys(2)
    raw, embeddings, collection = TICKET_CHAIN
    assert h.run(first, last, assets=[raw, embeddings]).success

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the collection step parsed a record, hashed a text or loaded the model")

    for owner, name in ((Embedder, "_model"), (Embedder, "content_hash"), (scope, "ticket_document")):
        monkeypatch.setattr(owner, name, forbidden)
    result = h.run(first, last, assets=[collection])
    assert result.success, failure_message(result)
    now = h.emulator.clock.now()
    assert set(h.points(TICKETS)) == set(live_tickets(h.emulator, now - timedelta(hours=2), now))
