"""Ranges of one collection at once, on a Postgres sync log: the pools of fd_pipeline/pools.py let
them overlap stage by stage and nothing goes back in time.

- Three range runs launched together, dequeued by Dagster's own daemon and executed in their own
  processes (the default run launcher): their embedding steps run at once (FD_EMBED_WORKERS=3)
  while their writes wait in line for the collection's one writer slot, and the collection ends
  equal to one single run's over the same hours (ids, payloads, vectors).
- A ticket that moves hours between two ranges' fetches ends with its newest version, whichever
  range's stages finish last.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from dagster_graphql.test.utils import execute_dagster_graphql

from fd_pipeline import pools
from fd_pipeline.domains import COLLECTIONS
from fd_pipeline.partitions import RANGE_END, RANGE_START, hour_key
from fd_pipeline.tickets.collection import TICKET_ASSETS
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig
from fd_pipeline.tickets.collection import TICKETS

from .fixtures.pipeline import TICKET_CHAIN, Harness
from fd_pipeline_tests.webui import LAUNCH_EXECUTION

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 900  # a loaded two-core machine starts three run processes, each importing torch



def _launch_range(context, first: str, last: str) -> str:
    """What a backfill's run of one range is: the implicit asset job over the ticket chain, range tags."""
    params = {
        "selector": {
            "repositoryLocationName": "fd_pipeline", "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": [name]} for name in TICKET_ASSETS],
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": RANGE_START, "value": first}, {"key": RANGE_END, "value": last}]},
    }
    launched = execute_dagster_graphql(context, LAUNCH_EXECUTION, {"params": params}).data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def points_with_vectors(path: Path) -> dict:
    """id -> (payload, {vector name: dense list or (indices, values)}) through the public alias."""
    with VectorStore(VectorStoreConfig(path=str(path))) as store:
        pages = store._engine.scroll(store._read_target(TICKETS, None), page_size=500, with_payload=True, with_vectors=True)
        return {r.id: (r.payload, dict(r.vectors)) for page in pages for r in page}


def _same_vectors(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for name, va in a.items():
        vb = b[name]
        if hasattr(va, "indices"):
            if list(va.indices) != list(vb.indices) or not np.allclose(va.values, vb.values, atol=1e-5):
                return False
        elif not np.allclose(np.asarray(va, dtype=float), np.asarray(vb, dtype=float), atol=1e-5):
            return False
    return True


def _steps(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (start, end) timestamps of the run's steps."""
    starts = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    ends = {e.step_key: e.timestamp for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def _pending(storage, pool: str, holder: str) -> list:
    return [s for s in storage.get_concurrency_info(pool).pending_steps if s.run_id != holder and s.assigned_timestamp is None]


@pytest.mark.slow
def test_three_ranges_at_once_embed_together_queue_their_writes_and_equal_one_run(
    make_emulator, pg_url, sqlite_url, tiny_model_dir, dagster_home, local_stores, tmp_path, monkeypatch
):
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    emu = make_emulator(tickets=120, articles=4, span_hours=9, rate_window_s=2.0)
    qdrant = tmp_path / "qdrant"
    local_stores(pg_url, qdrant)
    for name in ("FRESHDESK_DOMAIN",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRESHDESK_BASE_URL", emu.base_url)
    monkeypatch.setenv("FRESHDESK_API_KEY", emu.api_key)
    monkeypatch.setenv("FD_EMBED_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("FD_EMBED_WORKERS", "3")
    monkeypatch.setenv("FD_DATA_DIR", str(tmp_path / "data"))
    now = emu.clock.now()
    keys = [hour_key(now - timedelta(hours=h)) for h in range(9, 0, -1)]
    ranges = [(keys[0], keys[2]), (keys[3], keys[5]), (keys[6], keys[8])]
    holder = "test-holds-the-slots"

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        pools.ensure_pool_limits(instance, COLLECTIONS)
        assert {p.name: p.limit for p in storage.get_pool_limits()} == {"fd_freshdesk": 1, "fd_embed": 3, "fd_stores": 1}
        # The test holds every embedding slot until all three fetches are done, so the three
        # embeddings start together, and the writer slot until all three have embedded, so the
        # writes wait in line.
        for i in range(3):
            assert storage.claim_concurrency_slot("fd_embed", holder, f"embed-{i}").is_claimed
        assert storage.claim_concurrency_slot("fd_stores", holder, "write").is_claimed
        target = ModuleTarget(module_name="fd_pipeline.definitions", attribute=None, working_directory=str(ROOT), location_name="fd_pipeline")
        runs: list[str] = []
        try:
            with create_test_daemon_workspace_context(target, instance) as workspace:
                request = workspace.create_request_context()
                runs = [_launch_range(request, first, last) for first, last in ranges]
                daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
                deadline = time.monotonic() + WAIT_S
                embeds_released = writes_released = False
                pending_writes = 0
                while time.monotonic() < deadline:
                    list(daemon.run_iteration(workspace))
                    if not embeds_released and len(_pending(storage, "fd_embed", holder)) == 3:
                        for i in range(3):
                            storage.free_concurrency_slot_for_step(holder, f"embed-{i}")
                        embeds_released = True
                    if embeds_released and not writes_released and len(_pending(storage, "fd_stores", holder)) == 3:
                        pending_writes = 3
                        storage.free_concurrency_slot_for_step(holder, "write")
                        writes_released = True
                    if all(instance.get_run_by_id(r).is_finished for r in runs):
                        break
                    time.sleep(1)
        finally:
            storage.free_concurrency_slots_for_run(holder)
            for run_id in runs:
                if not instance.get_run_by_id(run_id).is_finished:
                    instance.run_launcher.terminate(run_id)
        statuses = [instance.get_run_by_id(r).status for r in runs]
        assert statuses == [dg.DagsterRunStatus.SUCCESS] * 3, statuses
        assert embeds_released and writes_released and pending_writes == 3
        steps = [_steps(instance, r) for r in runs]

    def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    pairs = [(0, 1), (0, 2), (1, 2)]
    # One fetcher and one writer at a time; the three embeddings ran at once.
    for step in ("raw_tickets", "support_tickets"):
        assert not any(overlap(steps[i][step], steps[j][step]) for i, j in pairs), step
    assert all(overlap(steps[i]["ticket_embeddings"], steps[j]["ticket_embeddings"]) for i, j in pairs)

    # One run over the same hours, with its own sync log and Qdrant folder.
    single = Harness(emu, sqlite_url, tmp_path / "qdrant_single", tiny_model_dir)
    assert single.run(keys[0], keys[-1], assets=TICKET_CHAIN).success
    ranged, whole = points_with_vectors(qdrant), points_with_vectors(single.qdrant_path)
    expected = {t.id for t in emu.desk.tickets.values()
                if not t.deleted and not t.spam and hour_key(datetime.fromtimestamp(t.updated_at, UTC)) in keys}
    assert set(ranged) == set(whole) == expected and len(expected) > 60
    for pid, (payload, vectors) in whole.items():
        assert ranged[pid][0] == payload, pid
        assert _same_vectors(ranged[pid][1], vectors), pid


ORDERS = {
    # The older range's embedding and write come after the newer range has written the new version.
    "older_range_finishes_last": ("A.raw", "move", "B.raw", "B.embed", "B.write", "A.embed", "A.write"),
    # The older range embedded the old version before the move and writes last.
    "older_range_writes_last": ("A.raw", "A.embed", "move", "B.raw", "B.embed", "B.write", "A.write"),
    # The older range writes the old version first, the newer range overwrites it.
    "newer_range_writes_last": ("A.raw", "A.embed", "move", "B.raw", "B.embed", "A.write", "B.write"),
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_a_ticket_moving_between_ranges_ends_with_its_newest_version(pipeline_harness, pg_url, emulator_now, order):
    harness = pipeline_harness(pg_url, tickets=60, articles=4, span_hours=6, rate_window_s=2.0)
    emu = harness.emulator
    a = (hour_key(emulator_now - timedelta(hours=6)), hour_key(emulator_now - timedelta(hours=4)))
    b = (hour_key(emulator_now - timedelta(hours=3)), hour_key(emulator_now))
    lo, hi = (emulator_now - timedelta(hours=6)).timestamp(), (emulator_now - timedelta(hours=3)).timestamp()
    moved = min(t.id for t in emu.desk.tickets.values() if not t.deleted and not t.spam and lo <= t.updated_at < hi)
    old_subject = emu.desk.tickets[moved].subject
    stage = dict(zip(("raw", "embed", "write"), TICKET_CHAIN, strict=True))
    for item in ORDERS[order]:
        if item == "move":
            emu.clock.set(emulator_now + timedelta(minutes=30))
            emu.update_ticket(moved, subject="Printer moved to the second floor and jams there")
            continue
        name, what = item.split(".")
        first, last = a if name == "A" else b
        result = harness.run(first, last, assets=[stage[what]])
        assert result.success, item

    points = harness.points(TICKETS)
    assert points[moved][0]["subject"] == "Printer moved to the second floor and jams there" != old_subject
    newest = datetime.fromtimestamp(emu.desk.tickets[moved].updated_at, UTC)
    with harness.sync_log() as store:
        state = store.get_items(TICKETS.name, [str(moved)])[str(moved)]
        assert (state.status, state.source_updated_at) == ("synced", newest)
        assert store.get_raw("ticket", [str(moved)])[str(moved)].source_updated_at == newest
        assert store.get_documents(TICKETS.name, [str(moved)])[str(moved)].source_updated_at == newest
