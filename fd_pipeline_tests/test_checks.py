"""Asset-check contract: on a freshly materialised pipeline every collection check passes; points
deleted behind the sync log's back fail `points_match_sync_log`, a collection of another dimension
fails `vectors_have_model_dimension`, and an item failed longer than FD_FAILED_MAX_AGE_HOURS fails
`no_stale_failures`. Checks run through Dagster (`materialize` with the check selection).
Freshness is one check per collection, `closed_hours_synced`, and nothing else.
"""

from __future__ import annotations

import dagster as dg
import pytest

from fd_pipeline import checks, freshness
from fd_pipeline.definitions import defs
from fd_pipeline.sync_log import ItemResult
from fd_pipeline.vectorstore import Point, VectorStore, VectorStoreConfig
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS
from fd_pipeline_tests.fixtures.pipeline import ALL_ASSETS
from fd_pipeline_tests.fixtures.qdrant import make_identity, vec

CHECKS = checks.build_checks()


def _run_checks(harness, checks_=CHECKS) -> dict[tuple[str, str], bool]:
    result = dg.materialize(
        [*ALL_ASSETS, *checks_], resources=harness.resources(), selection=dg.AssetSelection.all_asset_checks(),
        partition_key=None, raise_on_error=False,
    )
    return {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture
def synced(pipeline_harness, sqlite_url):
    harness = pipeline_harness(sqlite_url, tickets=40, articles=6)
    first, last = harness.window_keys(2)
    harness.run(first, last)
    return harness


def test_checks_pass_on_a_synced_pipeline_and_catch_corruption(synced):
    results = _run_checks(synced)
    assert len(results) == 6 and all(results.values()), results

    # Points removed behind the sync log's back.
    store = VectorStore(VectorStoreConfig(path=str(synced.qdrant_path)))
    try:
        store.delete(TICKETS, None, store.scroll_ids(TICKETS)[:3])
        # The KB alias serving vectors of another size than the model's.
        odd = make_identity("odd", dim=8)
        store.upsert(KB, odd, [Point(1, {"intent": vec([0.1] * 8)}, {})])
        store.promote(KB, odd)
    finally:
        store.close()
    # An item failed now is stale once the allowed age is zero.
    log = synced.sync_log()
    try:
        log.record_results(TICKETS.name, "ticket", [ItemResult(item_id="999999", status="failed", error="Empty content", stage="embed")],
                           run_id="test", partition_key=None)
    finally:
        log.close()
    results = _run_checks(synced, checks.build_checks(failed_max_age_hours=0))
    assert results[("support_tickets", "points_match_sync_log")] is False
    assert results[("kb_procedures", "vectors_have_model_dimension")] is False
    assert results[("support_tickets", "no_stale_failures")] is False
    assert results[("support_tickets", "vectors_have_model_dimension")] is True
    assert results[("kb_procedures", "no_stale_failures")] is True


def test_one_freshness_story():
    """No time-window policy or superseded freshness checks beside the rule: one check per collection,
    judged by late_partitions_sensor, which is also what requests a late hour."""
    graph = defs.get_repository_def().asset_graph
    assert all(graph.get(k).freshness_policy is None for k in graph.get_all_asset_keys())
    keys = {k for d in checks.build_freshness_checks(freshness.Rule()) for k in d.check_keys}
    assert {(k.asset_key.path[-1], k.name) for k in keys} == {
        ("support_tickets", "closed_hours_synced"), ("kb_procedures", "closed_hours_synced")
    }
    assert {s.name for s in defs.sensors} == {"late_partitions_sensor", "freshdesk_updates_sensor", "run_watchdog_sensor"}
