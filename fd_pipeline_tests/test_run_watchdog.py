"""Recovery without a human: a run whose worker died together with its code server and the daemon
(a reboot, a killed container) is ended as failed by `run_watchdog_sensor` once the daemon is back,
its pool frees, and the next queued run starts and syncs its hours; nothing lost or duplicated.

The end-to-end test runs Dagster's own daemon (`dagster-daemon run`, which starts the code server,
which starts the run workers) in a process group of its own, kills the whole group with SIGKILL in
the middle of a run, and starts a fresh daemon. The other tests judge workers the way the sensor
does: by pid on this machine, by heartbeat elsewhere, and runs that never registered one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psutil
import pytest

from fd_pipeline import watchdog
from fd_pipeline.commands.instance import prepare_instance
from fd_pipeline.definitions import defs
from fd_pipeline.emulator.faults import FaultConfig
from fd_pipeline.partitions import range_tags
from fd_pipeline.sync_log import SyncLog
from fd_pipeline.sync_log.schema import run_workers
from fd_pipeline.sync_log.workers import this_machine
from fd_pipeline.vectorstore import VectorStore, VectorStoreConfig
from fd_pipeline.tickets.collection import TICKETS
from fd_pipeline_tests.fixtures.qdrant import scroll_points

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "fd_pipeline.definitions"


def _wait(what: str, predicate, timeout: float = 600, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up after {timeout:.0f} s waiting for {what}"
        time.sleep(every)


def _group(proc: subprocess.Popen) -> set[int]:
    try:
        return {proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))}
    except psutil.Error:
        return set()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM (the daemon's orderly stop), then SIGKILL; every process of the group is gone after."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    _kill_group(proc)


@pytest.mark.slow
def test_a_run_killed_with_its_daemon_is_failed_and_the_next_run_syncs_its_hours(
    make_emulator, tiny_model_dir, dagster_home, tmp_path, monkeypatch
):
    emu = make_emulator(tickets=60, articles=6, span_hours=3)
    now = emu.clock.now()
    first = (now - timedelta(hours=3)).strftime("%Y-%m-%d-%H:00")
    last = (now - timedelta(hours=1)).strftime("%Y-%m-%d-%H:00")
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    qdrant = tmp_path / "qdrant"
    env = {
        **os.environ, "DAGSTER_HOME": str(dagster_home), "FD_PARTITIONS_START": first, "FD_AUTOMATION": "stopped",
        "FRESHDESK_BASE_URL": emu.base_url, "FRESHDESK_API_KEY": emu.api_key, "FD_EMBED_MODEL": str(tiny_model_dir),
        "QDRANT_PATH": str(qdrant), "FD_DATABASE_URL": db_url, "FD_WORKER_STALE_SECONDS": "20",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name in ("FRESHDESK_DOMAIN", "QDRANT_URL", "QDRANT_HOST", "DATABASE_URL"):
        env.pop(name, None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    log = (tmp_path / "daemon.log").open("w")

    def daemon() -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", LOCATION], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def launch(run_id: str) -> None:
        done = subprocess.run([str(BIN / "dagster"), "job", "launch", "-m", LOCATION, "-j", "tickets_job",
                               "--run-id", run_id, "--tags", json.dumps(range_tags(first, last))],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

    prepare_instance(dagster_home)  # storages and pools exist before the daemon and the launches open them
    dead_id, next_id = str(uuid.uuid4()), str(uuid.uuid4())
    # Every Freshdesk answer takes 2 s, so the first run is still fetching when it is killed.
    emu.set_faults(FaultConfig(rate_slow=1.0, slow_s=2.0))
    first_daemon = daemon()
    second_daemon = None
    try:
        launch(dead_id)
        with dg.DagsterInstance.get() as instance, SyncLog(db_url) as store:
            _wait("the first run to start fetching", lambda: (
                instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.STARTED
                and store.workers([dead_id]) and emu.stats.snapshot()["requests"] > 0))
            worker = store.workers([dead_id])[dead_id]
            group = _group(first_daemon)
            assert worker["pid"] in group and len(group) >= 3  # daemon, code server, run worker

            # The host "crashes": daemon, code server and run worker die at once.
            _kill_group(first_daemon)
            _wait("every process of the group to die", lambda: not any(psutil.pid_exists(p) for p in group), timeout=60)
            emu.set_faults(None)
            time.sleep(3)
            dead = instance.get_run_by_id(dead_id)
            assert dead.status == dg.DagsterRunStatus.STARTED  # nobody could tell
            # The next run of its hours is queued while no daemon runs. Once dequeued, its fetch
            # waits for the Freshdesk slot, which the dead run's step still holds.
            launch(next_id)
            assert instance.get_run_by_id(next_id).status == dg.DagsterRunStatus.QUEUED
            assert instance.event_log_storage.get_concurrency_info("fd_freshdesk").claimed_slots[0].run_id == dead_id

            restarted = time.monotonic()
            second_daemon = daemon()
            _wait("the dead run to be failed", lambda: instance.get_run_by_id(dead_id).is_finished)
            failed_after = time.monotonic() - restarted
            dead = instance.get_run_by_id(dead_id)
            assert dead.status == dg.DagsterRunStatus.FAILURE
            _wait("the queued run to finish", lambda: instance.get_run_by_id(next_id).is_finished)
            succeeded_after = time.monotonic() - restarted
            assert instance.get_run_by_id(next_id).status == dg.DagsterRunStatus.SUCCESS, log.name
            assert succeeded_after < 600
            print(f"\nafter the daemon restart: dead run failed in {failed_after:.0f} s, next run succeeded in {succeeded_after:.0f} s")
            failure = [e for e in instance.all_logs(dead_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
            assert "run watchdog" in failure[-1].message and f"pid {worker['pid']}" in failure[-1].message
            # The dead run's sync rows are closed, none is left "running".
            assert store.running_syncs() == []
        _stop_group(second_daemon)

        # Nothing lost, nothing duplicated: the collection holds exactly the window's live tickets.
        lo, hi = (now - timedelta(hours=3)).timestamp(), now.timestamp()
        expected = {t.id for t in emu.desk.tickets.values() if not t.deleted and not t.spam and lo <= t.updated_at < hi}
        with VectorStore(VectorStoreConfig(path=str(qdrant))) as vectors:
            points = scroll_points(vectors, TICKETS)
        assert expected and set(points) == expected
        with SyncLog(db_url) as store:
            assert store.counts(TICKETS.name)["synced"] == len(expected)
    finally:
        for proc in (first_daemon, second_daemon):
            if proc is not None:
                _stop_group(proc)
        log.close()


def _started_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    job = defs.resolve_job_def("tickets_job")
    return instance.create_run_for_job(job, tags=range_tags("2025-06-02-09:00", "2025-06-02-09:00"),
                                       status=dg.DagsterRunStatus.STARTED)


def test_a_worker_is_judged_by_pid_here_and_by_heartbeat_elsewhere(sqlite_url):
    now = datetime.now(UTC)
    with dg.DagsterInstance.ephemeral() as instance, SyncLog(sqlite_url) as store:
        live, dead, far, silent = (_started_run(instance) for _ in range(4))
        for run in (live, dead, far, silent):
            store.register_worker(run.run_id)
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        # `dead` ran in a process that has exited; `far` and `silent` on another machine, one beating.
        with store.engine.begin() as conn:
            conn.execute(run_workers.update().where(run_workers.c.run_id == dead.run_id)
                         .values(pid=child.pid, process_started=psutil.Process().create_time()))
            conn.execute(run_workers.update().where(run_workers.c.run_id.in_([far.run_id, silent.run_id]))
                         .values(machine="another-boot/pid:[1]", host="elsewhere"))
            conn.execute(run_workers.update().where(run_workers.c.run_id == silent.run_id)
                         .values(heartbeat_at=now - timedelta(seconds=61)))
        found = dict((run.run_id, why) for run, why in
                     watchdog.dead_runs(instance, store, stale_after_s=60, location=None, now=now))
        assert set(found) == {dead.run_id, silent.run_id}
        assert f"pid {child.pid}" in found[dead.run_id] and "is gone" in found[dead.run_id]
        assert "no heartbeat for 61 s" in found[silent.run_id] and "elsewhere" in found[silent.run_id]

        for run_id in found:
            assert watchdog.end_dead_run(instance, store, instance.get_run_by_id(run_id), found[run_id])
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            assert not watchdog.end_dead_run(instance, store, instance.get_run_by_id(run_id), "again")
        assert {r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=watchdog.WATCHED))} == {live.run_id, far.run_id}


def test_a_materialisation_registers_its_worker_and_releases_its_claim(pipeline_harness, sqlite_url):
    h = pipeline_harness(sqlite_url, tickets=20, articles=3, span_hours=1)
    first, last = h.window_keys(1)
    result = h.run(first, last)
    assert result.success
    with SyncLog(sqlite_url) as store:
        worker = store.workers([result.run_id])[result.run_id]
        assert worker["pid"] == os.getpid() and worker["machine"] == this_machine()
        # Its claim went with its resources: the next run takes the pool without asking who held it.
        assert store.claim_pool("fd_stores", "next", is_over=lambda run_id: pytest.fail(f"asked about {run_id}")) is None


def test_a_run_that_never_registered_a_worker_is_ended_after_the_startup_grace(sqlite_url):
    """A run that died before its resources were set up (seconds after it was launched) has no
    worker to judge: it is ended once it has been starting for the startup grace, and only when it
    was launched from this code location."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.test_utils import create_run_for_test

    def launched_from(location: str) -> dg.DagsterRun:
        origin = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location), "__repository__"), "tickets_job")
        return create_run_for_test(instance, job_name="tickets_job", status=dg.DagsterRunStatus.STARTING,
                                   remote_job_origin=origin)

    with dg.DagsterInstance.ephemeral() as instance, SyncLog(sqlite_url) as store:
        ours, theirs = launched_from("fd_pipeline.definitions"), launched_from("another_location")
        now = datetime.now(UTC)

        def judged(at: datetime) -> dict[str, str]:
            return {run.run_id: why for run, why in watchdog.dead_runs(
                instance, store, stale_after_s=20, location="fd_pipeline.definitions", startup_grace_s=120, now=at)}

        assert judged(now + timedelta(seconds=60)) == {}  # still within the grace: it may be loading its code
        late = judged(now + timedelta(seconds=180))
        assert set(late) == {ours.run_id} and "no run worker registered" in late[ours.run_id] and "launched" in late[ours.run_id]
        # Once its worker registers, the worker decides.
        store.register_worker(ours.run_id)
        assert judged(now + timedelta(seconds=180)) == {}
        assert theirs.run_id not in late


def test_the_watchdog_runs_whatever_fd_automation_says_and_ticks_by_its_threshold(monkeypatch):
    import importlib

    import fd_pipeline.definitions as definitions

    try:
        with monkeypatch.context() as env:
            env.setenv("FD_AUTOMATION", "stopped")
            env.setenv("FD_WORKER_STALE_SECONDS", "40")
            loaded = importlib.reload(definitions)
            sensor = next(s for s in loaded.defs.sensors if s.name == "run_watchdog_sensor")
            assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.minimum_interval_seconds == 10
            assert {s.default_status for s in loaded.defs.sensors if s is not sensor} == {dg.DefaultSensorStatus.STOPPED}
    finally:
        importlib.reload(definitions)
    sensor = next(s for s in definitions.defs.sensors if s.name == "run_watchdog_sensor")
    assert sensor.minimum_interval_seconds == 60  # FD_WORKER_STALE_SECONDS' default, 300 s, looked at every 60 s
