"""The run watchdog: a run whose worker died without a word is ended, so its pool frees.

Dagster's default run launcher notices a run worker that dies on its own (its code server reports
the run failed), but not one that dies together with its code server and the daemon (a reboot, an
OOM kill of the container): that run stays STARTED, holds its concurrency pool, and every later
run of the pool waits in the queue forever. Dagster's run monitoring cannot help with that
launcher (it has no worker health check), and a maximum runtime would also cut a long backfill.

So every run records its worker process in the sync log when its resources are set up
(`SyncLogResource`), with a heartbeat. This sensor looks at every run in progress: a worker on
this machine is dead when its pid is gone (or now names a younger process); one elsewhere when
its heartbeat is older than FD_WORKER_STALE_SECONDS; a run of this code location that never
registered a worker is dead once it has been starting or started for `startup_grace_s` without
one. Such a run is reported failed (`instance.report_run_failed`, what Dagster's own run
monitoring does), which ends its hold on the pool; `late_partitions_sensor` then requests its
hours again under a `:retryN` run key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from fd_pipeline.resources import SyncLogResource
from fd_pipeline.sync_log.workers import this_machine, worker_gone

WATCHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
# A run with no registered worker: how long after it was launched or started that means it died.
STARTUP_GRACE_S = 300.0


def tick_interval_s(stale_after_s: float) -> int:
    """Four looks per staleness threshold, between every 5 s and every minute."""
    return int(max(5, min(60, stale_after_s / 4)))


def _location(run: dg.DagsterRun) -> str | None:
    origin = run.remote_job_origin
    return origin.location_name if origin is not None else None


def dead_runs(
    instance: dg.DagsterInstance, store: Any, *, stale_after_s: float, location: str | None,
    startup_grace_s: float = STARTUP_GRACE_S, now: datetime | None = None,
) -> list[tuple[dg.DagsterRun, str]]:
    """The runs in progress whose worker is gone, each with why. A run with no registered worker is
    judged only when it was launched from `location` (this code location)."""
    now = now or datetime.now(UTC)
    records = list(instance.get_run_records(filters=dg.RunsFilter(statuses=WATCHED)))
    workers = store.workers([r.dagster_run.run_id for r in records])
    machine = this_machine()
    found = []
    for record in records:
        run = record.dagster_run
        worker = workers.get(run.run_id)
        if worker is not None:
            reason = worker_gone(worker, now=now, stale_after_s=stale_after_s, machine=machine)
        elif location is not None and _location(run) == location:
            started = record.start_time if run.status == dg.DagsterRunStatus.STARTED and record.start_time else None
            since = started if started is not None else record.update_timestamp.timestamp()
            waited = now.timestamp() - since
            verb = "started" if started is not None else "was launched"
            reason = (f"no run worker registered in the {waited:.0f} s since it {verb}"
                      if waited > max(startup_grace_s, stale_after_s) else None)
        else:
            reason = None
        if reason is not None:
            found.append((run, reason))
    return found


def end_dead_run(instance: dg.DagsterInstance, store: Any, run: dg.DagsterRun, reason: str) -> bool:
    """Report `run` failed (unless it ended meanwhile) and free what it held; True if it was ended here."""
    current = instance.get_run_by_id(run.run_id)
    if current is None or current.is_finished:
        return False
    instance.report_run_failed(
        current, f"{reason}: the run watchdog ended it so that its pool frees; its hours are requested again"
    )
    # With `granularity: run` a pool is held by in-progress runs only; with op granularity its
    # steps may also hold slots, which Dagster frees for a finished run only when its
    # `free_slots_after_run_end_seconds` is set.
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    store.close_orphaned_runs(dagster_instance=instance)
    return True


def build_run_watchdog(stale_after_s: float, *, name: str = "run_watchdog_sensor") -> dg.SensorDefinition:
    """Ends runs whose worker died (see the module); running from the start, whatever FD_AUTOMATION
    says: it spends no API credit and writes no store, it only ends runs nothing runs any more."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=tick_interval_s(stale_after_s),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Ends a run whose worker died with its code server (a reboot, a killed container), freeing its pool.",
    )
    def run_watchdog(context: dg.SensorEvaluationContext, sync_log: SyncLogResource):
        origin = context.code_location_origin
        now = datetime.now(UTC)
        with sync_log.open() as store:
            found = dead_runs(context.instance, store, stale_after_s=stale_after_s, now=now,
                              location=origin.location_name if origin is not None else None)
            ended = []
            for run, reason in found:
                if end_dead_run(context.instance, store, run, reason):
                    context.log.warning(f"ended run {run.run_id} ({run.job_name}): {reason}")
                    ended.append(run.run_id)
            in_progress = [r.run_id for r in context.instance.get_runs(filters=dg.RunsFilter(statuses=WATCHED))]
            store.prune_workers(keep=in_progress, older_than=now - timedelta(seconds=max(stale_after_s, STARTUP_GRACE_S)))
        if ended:
            return dg.SkipReason(f"ended {len(ended)} run(s) whose worker is gone: {', '.join(ended)}")
        return dg.SkipReason("every run in progress has a live worker")

    return run_watchdog
