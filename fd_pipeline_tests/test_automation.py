"""Automation contract: the hourly schedules target the hour that just closed; the late-partition
sensor requests exactly the closed hours whose collection partition is missing past the grace
period (run key `<job>:<partition>`, skip reason when fresh or already running); the Freshdesk
sensor spends one API call per tick, requests the changed hour's tickets partition once per change
and advances its cursor; and with the project's dagster.yaml every asset and check is in the pool of the
resource its stage uses (Freshdesk, embedding, the collection's stores), each step waits for a slot of its
pool, and runs launched from an asset page (no job, no tags) beyond the free fetch slot and one run of
buffer stay QUEUED until a run ends.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from dagster_graphql.test.utils import execute_dagster_graphql

from fd_pipeline import checks, pools, sensors
from fd_pipeline.definitions import defs
from fd_pipeline.freshness import Rule
from fd_pipeline.jobs import COLLECTION_JOBS
from fd_pipeline.partitions import PARTITION_TAG, hour_key
from fd_pipeline.domains import ASSETS, CHAINS, COLLECTIONS
from fd_pipeline.tickets.collection import TICKET_ASSETS
from fd_pipeline.resources import FreshdeskResource, SyncLogResource, project_resources
from fd_pipeline_tests.webui import LAUNCH_EXECUTION

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 2, 12, 40, tzinfo=UTC)


def test_hourly_schedules_target_the_hour_that_just_closed():
    for name, minute in (("tickets_hourly", 5), ("kb_hourly", 10)):
        schedule = defs.get_schedule_def(name)
        assert schedule.cron_schedule == f"{minute} * * * *"
        at = datetime(2025, 6, 2, 13, minute, tzinfo=UTC)
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()
            )
            result = schedule.evaluate_tick(context)
        (request,) = result.run_requests
        assert request.partition_key == "2025-06-02-12:00"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_the_named_assets_are_the_definitions_in_two_chains_each_with_its_job():
    """partitions.ASSETS / CHAINS name what definitions.py assembles: raw -> embeddings -> collection,
    and COLLECTION_JOBS maps each collection to the job that runs its chain alone."""
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(ASSETS)
    for chain in CHAINS:
        assert graph.get(dg.AssetKey(chain.embeddings)).parent_keys == {dg.AssetKey(chain.raw)}
        assert graph.get(dg.AssetKey(chain.collection)).parent_keys == {dg.AssetKey(chain.embeddings)}
        job = defs.resolve_job_def(COLLECTION_JOBS[chain.collection].name)
        assert job.asset_layer.selected_asset_keys == {dg.AssetKey(name) for name in chain}


def test_sensors_start_as_definitions_say():
    for running, status in ((True, dg.DefaultSensorStatus.RUNNING), (False, dg.DefaultSensorStatus.STOPPED)):
        assert sensors.build_freshness_sensor(Rule(), running).default_status == status
        assert sensors.build_realtime_sensor(running).default_status == status


def _materialised(instance, asset: str, *keys: str) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=key))


def _tick(sensor, instance, cursor=None, **resources):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=resources or None)
    return sensor.evaluate_tick(context), context


def _check_events(result) -> list[tuple[str, bool, str]]:
    return [(e.asset_key.path[-1], e.passed, e.description) for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]


def test_late_partition_sensor_requests_missing_hours_with_run_keys(monkeypatch):
    monkeypatch.setenv("FRESHDESK_API_KEY", "not-used")  # a run of the job resolves its resources' config
    sensor = sensors.build_freshness_sensor(Rule(lookback_hours=4, grace=timedelta(minutes=20)), False, clock=lambda: NOW)
    # Closed hours 08..11; 11:00 closed at 12:00 and is late from 12:20, so all four count at 12:40.
    with dg.DagsterInstance.ephemeral() as instance:
        _materialised(instance, "support_tickets", "2025-06-02-08:00", "2025-06-02-10:00", "2025-06-02-11:00")
        _materialised(instance, "kb_procedures", "2025-06-02-08:00", "2025-06-02-09:00", "2025-06-02-10:00")
        result, _ = _tick(sensor, instance)
        got = {(r.job_name, r.partition_key, r.run_key) for r in result.run_requests}
        assert got == {
            ("tickets_job", "2025-06-02-09:00", "tickets_job:2025-06-02-09:00"),
            ("kb_job", "2025-06-02-11:00", "kb_job:2025-06-02-11:00"),
        }
        reasons = {r.partition_key: r.tags[sensors.REASON_TAG] for r in result.run_requests}
        assert "support_tickets 2025-06-02-09:00: not materialised 160 min" in reasons["2025-06-02-09:00"]
        # The verdict is shown as each collection's closed_hours_synced check, with a warning.
        checks = {a: (passed, text) for a, passed, text in _check_events(result)}
        assert checks["support_tickets"][0] is False and "2025-06-02-09:00" in checks["support_tickets"][1]
        assert {e.severity for e in result.asset_events} == {dg.AssetCheckSeverity.WARN}
        cursor = result.cursor

        # A run already in progress for the hour is not requested again, and is not late.
        instance.create_run_for_job(
            defs.get_job_def("tickets_job"), tags={PARTITION_TAG: "2025-06-02-09:00"}, status=dg.DagsterRunStatus.STARTED
        )
        _materialised(instance, "kb_procedures", "2025-06-02-11:00")
        result, _ = _tick(sensor, instance, cursor=cursor)
        assert result.run_requests == []
        assert "by a run in progress" in result.skip_message
        assert {(a, passed) for a, passed, _ in _check_events(result)} == {("support_tickets", True), ("kb_procedures", True)}
        cursor = result.cursor

        # The run fails: the hour is asked for again, under a new run key, on the next tick.
        (in_progress,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        instance.report_run_failed(in_progress)
        result, _ = _tick(sensor, instance, cursor=cursor)
        assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
            ("2025-06-02-09:00", "tickets_job:2025-06-02-09:00:retry1")
        ]
        cursor = result.cursor

        _materialised(instance, "support_tickets", "2025-06-02-09:00")
        result, _ = _tick(sensor, instance, cursor=cursor)
        assert result.run_requests == [] and "the last 4 closed hours are synced" in result.skip_message
        # Only a change of verdict is reported: the next tick adds nothing.
        again, _ = _tick(sensor, instance, cursor=result.cursor)
        assert _check_events(again) == []


def test_late_partition_sensor_waits_out_the_grace_period():
    rule = Rule(lookback_hours=1)
    early = datetime(2025, 6, 2, 12, 10, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        result, _ = _tick(sensors.build_freshness_sensor(rule, False, clock=lambda: early), instance)
        assert result.run_requests == [] and "no closed hour is due yet" in result.skip_message
        later = early + timedelta(minutes=15)
        result, _ = _tick(sensors.build_freshness_sensor(rule, False, clock=lambda: later), instance)
        assert {r.partition_key for r in result.run_requests} == {"2025-06-02-11:00"}


def test_a_normal_day_is_quiet_and_a_missed_hour_is_warned_then_repaired(monkeypatch):
    """A day of 5-minute sensor ticks beside the real schedules (each requested hour materialised a
    minute after its tick): no warning and no extra run, though the open hour is a partition all day.
    Then the 14:05 tickets run (hour 13:00) never happens: the check warns, the sensor requests the hour once,
    and once that run lands the check passes again."""
    clock = {"now": datetime(2025, 6, 2, 0, 0, tzinfo=UTC)}
    sensor = sensors.build_freshness_sensor(Rule(), False, clock=lambda: clock["now"])
    schedules = {defs.get_schedule_def(name): asset for name, asset in (("tickets_hourly", "support_tickets"), ("kb_hourly", "kb_procedures"))}
    warnings, repairs, requests = [], [], []
    with dg.DagsterInstance.ephemeral() as instance:
        # The day before was synced.
        for h in range(24):
            key = hour_key(clock["now"] - timedelta(hours=24 - h))
            _materialised(instance, "support_tickets", key)
            _materialised(instance, "kb_procedures", key)
        cursor, pending = None, []
        skip_tickets_at = datetime(2025, 6, 3, 14, 5, tzinfo=UTC)
        end = datetime(2025, 6, 3, 16, 0, tzinfo=UTC)
        while clock["now"] < end:
            now = clock["now"]
            for item in [p for p in pending if p[2] <= now]:
                pending.remove(item)
                _materialised(instance, item[0], item[1])
            for schedule, asset in schedules.items():
                if now.minute == int(schedule.cron_schedule.split()[0]) and not (asset == "support_tickets" and now == skip_tickets_at):
                    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=now, repository_def=defs.get_repository_def())
                    (request,) = schedule.evaluate_tick(context).run_requests
                    pending.append((asset, request.partition_key, now + timedelta(minutes=1)))
            result, _ = _tick(sensor, instance, cursor=cursor)
            cursor = result.cursor
            for asset, passed, text in _check_events(result):
                (repairs if passed else warnings).append((now, asset, text))
            for request in result.run_requests:
                requests.append((now, request.partition_key))
                collection = next(c for c, job in COLLECTION_JOBS.items() if job.name == request.job_name)
                pending.append((collection, request.partition_key, now + timedelta(minutes=3)))
            clock["now"] = now + timedelta(minutes=5)

    first_day = [w for w in warnings if w[0] < skip_tickets_at]
    assert first_day == [] and [r for r in requests if r[0] < skip_tickets_at] == []
    assert [(t.strftime("%H:%M"), a) for t, a, _ in warnings] == [("14:20", "support_tickets")]
    assert "2025-06-03-13:00" in warnings[0][2]
    assert requests == [(datetime(2025, 6, 3, 14, 20, tzinfo=UTC), "2025-06-03-13:00")]
    assert [(t.strftime("%H:%M"), a) for t, a, _ in repairs[-1:]] == [("14:25", "support_tickets")]


def test_realtime_sensor_one_call_per_tick_and_one_run_per_change(make_emulator, emulator_now):
    emu = make_emulator(tickets=60, articles=5)
    freshdesk = FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key, max_retries=1)
    clock = {"now": emulator_now + timedelta(minutes=2)}
    sensor = sensors.build_realtime_sensor(False, clock=lambda: clock["now"])
    before = emu.stats.snapshot()["requests"]

    with dg.DagsterInstance.ephemeral() as instance:
        result, ctx = _tick(sensor, instance, freshdesk=freshdesk)
        (request,) = result.run_requests
        newest = datetime.fromisoformat(result.cursor)
        assert newest < emulator_now and request.partition_key == hour_key(newest)
        assert request.run_key == f"tickets_job:{request.partition_key}:{newest.isoformat()}"
        assert emu.stats.snapshot()["requests"] - before == 1

        result, _ = _tick(sensor, instance, cursor=result.cursor, freshdesk=freshdesk)
        assert result.run_requests == [] and "no ticket updated since" in result.skip_message
        assert emu.stats.snapshot()["requests"] - before == 2
        cursor = newest.isoformat()

        # A change in the hour still open is synced within minutes: that hour is a partition too.
        emu.clock.set(emulator_now + timedelta(seconds=30))
        emu.update_ticket(_some_ticket(emu), priority=4)
        result, _ = _tick(sensor, instance, cursor=cursor, freshdesk=freshdesk)
        (request,) = result.run_requests
        assert request.partition_key == hour_key(emulator_now)
        assert result.cursor == (emulator_now + timedelta(seconds=30)).isoformat()
        cursor = result.cursor

        # A change late in the hour, seen after it closed: that hour is requested.
        emu.clock.set(emulator_now + timedelta(minutes=59))
        emu.update_ticket(_some_ticket(emu), priority=3)
        clock["now"] = emulator_now + timedelta(hours=1, minutes=1)
        result, _ = _tick(sensor, instance, cursor=cursor, freshdesk=freshdesk)
        (request,) = result.run_requests
        assert request.partition_key == "2025-06-02-12:00"
        assert result.cursor == (emulator_now + timedelta(minutes=59)).isoformat()


def test_realtime_sensor_waits_out_a_short_storm_and_leaves_a_long_one_to_the_next_tick(make_emulator, emulator_now):
    """A tick waits out 429s (Retry-After 1) within its own 30 s budget, not the run's 15 min: it must
    end within Dagster's sensor timeout. A longer storm fails the tick naming the budget; the next
    tick, once the storm is over, requests the hour."""
    from fd_pipeline.emulator import FaultConfig

    emu = make_emulator(tickets=30, articles=2)
    freshdesk = FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key, max_retries=1)
    sensor = sensors.build_realtime_sensor(False, clock=lambda: emulator_now + timedelta(minutes=2))
    with dg.DagsterInstance.ephemeral() as instance:
        emu.set_faults(FaultConfig(storm_429={"/api/v2/tickets": 3}, retry_after_s=1))
        result, _ = _tick(sensor, instance, freshdesk=freshdesk)
        assert len(result.run_requests) == 1
        emu.set_faults(FaultConfig(storm_429={"/api/v2/tickets": 40}, retry_after_s=1))
        with pytest.raises(Exception, match="0.5 min of rate-limit waits"):
            _tick(sensor, instance, freshdesk=freshdesk)
        assert emu.stats.snapshot()["faults"]["429"] == 3 + 31
        emu.set_faults(None)
        result, _ = _tick(sensor, instance, freshdesk=freshdesk)
        assert len(result.run_requests) == 1


def _some_ticket(emu) -> int:
    return min(emu.desk.tickets)




def _launch_from_asset_page(context, assets: list[str], partition: str) -> str:
    """What the UI's Materialize button sends: the implicit asset job, an asset selection, no job tags."""
    params = {
        "selector": {
            "repositoryLocationName": "fd_pipeline", "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": [name]} for name in assets],
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": PARTITION_TAG, "value": partition}]},
    }
    result = execute_dagster_graphql(context, LAUNCH_EXECUTION, {"params": params})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_every_asset_and_check_names_the_pool_of_its_resource(monkeypatch):
    graph = defs.resolve_asset_graph()
    by_asset = {k.path[-1]: tuple(graph.get(k).pools) for k in graph.get_all_asset_keys()}
    assert by_asset == {
        "raw_tickets": ("fd_freshdesk",), "raw_articles": ("fd_freshdesk",),
        "ticket_embeddings": ("fd_embed",), "article_embeddings": ("fd_embed",),
        "support_tickets": ("fd_stores",), "kb_procedures": ("fd_stores",),
    }
    assert {c.op.pool for c in checks.build_checks()} == {"fd_stores"}
    assert pools.pool_limits(COLLECTIONS) == {"fd_freshdesk": 1, "fd_embed": 1, "fd_stores": 1}
    monkeypatch.setenv("FD_EMBED_WORKERS", "3")
    assert pools.pool_limits(COLLECTIONS)["fd_embed"] == 3
    monkeypatch.setenv("FD_EMBED_WORKERS", "0")
    with pytest.raises(ValueError, match="FD_EMBED_WORKERS must be at least 1"):
        pools.pool_limits(COLLECTIONS)
    # A Qdrant server with a Postgres sync log: one writer pool per collection.
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("FD_DATABASE_URL", "postgresql://u@db/fd")
    assert (pools.writer_pool("support_tickets"), pools.writer_pool("kb_procedures")) == ("fd_support_tickets", "fd_kb_procedures")
    monkeypatch.setenv("FD_DATABASE_URL", "sqlite:///x.db")
    assert pools.writer_pool("support_tickets") == "fd_stores"


def test_backfills_are_cut_into_ranges_of_a_week(monkeypatch):
    graph = defs.resolve_asset_graph()
    policies = {graph.get(k).backfill_policy for k in graph.get_all_asset_keys()}
    assert policies == {dg.BackfillPolicy.multi_run(max_partitions_per_run=168)}
    from fd_pipeline.partitions import backfill_policy

    monkeypatch.setenv("FD_BACKFILL_HOURS_PER_RUN", "0")
    assert backfill_policy() == dg.BackfillPolicy.single_run()
    monkeypatch.setenv("FD_BACKFILL_HOURS_PER_RUN", "-1")
    with pytest.raises(ValueError, match="FD_BACKFILL_HOURS_PER_RUN must be 0"):
        backfill_policy()


def _wait_finished(instance, run_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not instance.get_run_by_id(run_id).is_finished and time.monotonic() < deadline:
        time.sleep(0.5)



@pytest.mark.slow
@pytest.mark.parametrize(
    ("stores", "expected_pools"),
    [("embedded", {"fd_freshdesk", "fd_embed", "fd_stores"}),
     ("servers", {"fd_freshdesk", "fd_embed", "fd_support_tickets", "fd_kb_procedures"})],
)
def test_asset_page_launches_queue_on_the_fetch_pool(dagster_home, tmp_path, monkeypatch, stores, expected_pools):
    """Launches the way the UI makes them (GraphQL, asset selections, no tags), dequeued by Dagster's
    own daemon. Three tickets runs share the one fetch slot: the first and one of buffer leave the
    queue, the third waits QUEUED until a run ends; a KB collection run (its first step writes) is
    not held back by them."""
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    monkeypatch.setenv("FD_DATA_DIR", str(tmp_path / "data"))
    for name in ("FRESHDESK_DOMAIN", "FRESHDESK_BASE_URL", "QDRANT_URL", "QDRANT_HOST", "FD_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    if stores == "servers":
        # Nothing listens there: the runs fail at once, but the pools are chosen from these.
        monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:1")
        monkeypatch.setenv("FD_DATABASE_URL", "postgresql://fd@127.0.0.1:1/fd")
    partition = "2025-06-02-11:00"

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        pools.ensure_pool_limits(instance, COLLECTIONS)
        assert {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()} == dict.fromkeys(expected_pools, 1)
        target = ModuleTarget(module_name="fd_pipeline.definitions", attribute=None, working_directory=str(ROOT), location_name="fd_pipeline")
        with create_test_daemon_workspace_context(target, instance) as workspace:
            request = workspace.create_request_context()
            tickets = _launch_from_asset_page(request, list(TICKET_ASSETS), partition)
            kb = _launch_from_asset_page(request, ["kb_procedures"], partition)
            buffered = _launch_from_asset_page(request, list(TICKET_ASSETS), partition)
            waiting = _launch_from_asset_page(request, list(TICKET_ASSETS), partition)
            launched = [tickets, kb, buffered, waiting]
            for run_id in launched:
                run = instance.get_run_by_id(run_id)
                assert run.status == dg.DagsterRunStatus.QUEUED
                assert not any(k.startswith("fd_pipeline/") for k in run.tags)
                assert run.run_op_concurrency.all_pools <= expected_pools

            daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
            list(daemon.run_iteration(workspace))
            status = {run_id: instance.get_run_by_id(run_id).status for run_id in launched}
            assert {status[r] for r in (tickets, kb, buffered)} & {dg.DagsterRunStatus.QUEUED} == set(), status
            assert status[waiting] == dg.DagsterRunStatus.QUEUED

            # The first runs end (they fail: no Freshdesk configured); the waiting one leaves the queue.
            for run_id in (tickets, buffered):
                _wait_finished(instance, run_id)
                assert instance.get_run_by_id(run_id).is_finished
            list(daemon.run_iteration(workspace))
            assert instance.get_run_by_id(waiting).status != dg.DagsterRunStatus.QUEUED
            for run_id in launched:
                _wait_finished(instance, run_id)


def test_a_run_outside_the_queue_waits_for_its_pool_slot(dagster_home, tmp_path, monkeypatch):
    """`dagster asset materialize` executes without the queue: its step still claims a slot of its
    pool (`granularity: op`), so it waits while another run holds the Freshdesk slot and starts
    when that slot is freed, instead of fetching beside it."""
    import threading

    monkeypatch.setenv("FRESHDESK_API_KEY", "not-used")  # the run's resources resolve their config first
    with dg.DagsterInstance.get() as instance:
        pools.ensure_pool_limits(instance, COLLECTIONS)
        storage = instance.event_log_storage
        assert storage.claim_concurrency_slot("fd_freshdesk", "other-run", "raw_tickets").is_claimed
        results = []
        worker = threading.Thread(target=lambda: results.append(dg.materialize(
            [defs.get_assets_def("raw_articles")], instance=instance, partition_key="2025-06-02-11:00",
            resources={**project_resources(), "sync_log": SyncLogResource(database_url=f"sqlite:///{tmp_path / 'sync.db'}")},
            raise_on_error=False,
        )))
        worker.start()
        try:
            deadline = time.monotonic() + 300
            pending: list = []
            while time.monotonic() < deadline and not pending:
                pending = [s for s in storage.get_concurrency_info("fd_freshdesk").pending_steps if s.run_id != "other-run"]
                time.sleep(0.5)
            (step,) = pending
            assert step.step_key == "raw_articles" and step.assigned_timestamp is None
            assert not instance.all_logs(step.run_id, of_type=dg.DagsterEventType.STEP_START)
        finally:
            storage.free_concurrency_slots_for_run("other-run")
            worker.join(timeout=600)
        (result,) = results
        assert instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
        assert not storage.get_concurrency_info("fd_freshdesk").claimed_slots


def test_a_run_of_another_instance_refuses_to_fetch_beside_another(tmp_path, monkeypatch):
    """Runs of two instances share no slots but share the stores: the step stops at once, naming
    the run that holds the pool in the sync log, instead of colliding with it."""
    monkeypatch.setenv("FRESHDESK_API_KEY", "not-used")  # the run's resources resolve their config first

    sync_log = SyncLogResource(database_url=f"sqlite:///{tmp_path / 'sync.db'}")
    with dg.DagsterInstance.ephemeral() as instance:
        busy = defs.resolve_implicit_global_asset_job_def()
        other = instance.create_run_for_job(busy, status=dg.DagsterRunStatus.STARTED, asset_selection=frozenset({dg.AssetKey("raw_tickets")}))
        assert other.run_op_concurrency.all_pools == {"fd_freshdesk"}
        # What its first step did: it holds the pool.
        with sync_log.open() as store:
            assert store.claim_pool("fd_freshdesk", other.run_id, is_over=lambda _: False) is None

        def materialize():
            return dg.materialize(
                [defs.get_assets_def("raw_articles")], instance=instance, partition_key="2025-06-02-11:00",
                resources={**project_resources(), "sync_log": sync_log}, raise_on_error=False,
            )

        result = materialize()
        (failure,) = result.get_step_failure_events()
        message = failure.step_failure_data.error.message
        assert f"run {other.run_id}" in message and "holds pool 'fd_freshdesk'" in message and "dagster job launch" in message

        # Once that run is over, its claim passes to the next run (which then fails on Freshdesk,
        # not configured here, rather than on the pool).
        instance.report_run_failed(other)
        (failure,) = materialize().get_step_failure_events()
        assert "holds pool" not in failure.step_failure_data.error.message


def test_realtime_sensor_skips_a_change_that_a_later_run_already_synced(make_emulator, emulator_now):
    """E.g. the first tick after `fd-pipeline demo`: the demo's run read the hour after its last change."""
    emu = make_emulator(tickets=60, articles=5)
    freshdesk = FreshdeskResource(base_url=emu.base_url, api_key=emu.api_key, max_retries=1)
    sensor = sensors.build_realtime_sensor(False, clock=lambda: emulator_now + timedelta(minutes=2))

    @dg.asset(name=TICKET_ASSETS.collection, partitions_def=dg.HourlyPartitionsDefinition(start_date="2020-01-01-00:00"))
    def synced_collection() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        (request,) = _tick(sensor, instance, freshdesk=freshdesk)[0].run_requests
        # The emulator's changes are in its past (EMULATOR_NOW); this run starts now, after them.
        assert dg.materialize([synced_collection], instance=instance, partition_key=request.partition_key).success
        result, _ = _tick(sensor, instance, freshdesk=freshdesk)  # a first start again: no cursor
        assert result.run_requests == [] and "already synced it" in result.skip_message
