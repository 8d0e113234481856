"""Sensors: one that keeps the hourly collections fresh, one that follows Freshdesk in near real time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from fd_pipeline import freshness, jobs
from fd_pipeline.freshness import partition_exists
from fd_pipeline.partitions import hour_key
from fd_pipeline.resources import FreshdeskResource
from fd_pipeline.vectorstore import KB, TICKETS

Clock = Callable[[], datetime]

REASON_TAG = "fd_pipeline/reason"
# collection asset -> the job that rebuilds its partition
WATCHED = {TICKETS.name: jobs.tickets_job, KB.name: jobs.kb_job}
REALTIME_INTERVAL_S = 120


def _utcnow() -> datetime:
    return datetime.now(UTC)


def automation_status() -> dg.DefaultSensorStatus:
    from fd_pipeline.schedules import default_status

    return dg.DefaultSensorStatus.RUNNING if default_status() == dg.DefaultScheduleStatus.RUNNING else dg.DefaultSensorStatus.STOPPED


def build_freshness_sensor(clock: Clock = _utcnow, name: str = "late_partitions_sensor") -> dg.SensorDefinition:
    """Judge each collection by the freshness rule (`fd_pipeline/freshness.py`), show the verdict as
    its `closed_hours_synced` check, and request every late hour.

    The check is reported only when the verdict changes, so a healthy day adds nothing to the event
    log. Run keys are `<job>:<partition>`, so an hour is requested once however many ticks see it
    late, and again (`:retryN`) after its run failed.
    """

    @dg.sensor(
        name=name,
        jobs=list(WATCHED.values()),
        minimum_interval_seconds=300,
        default_status=automation_status(),
        description="Keeps support_tickets and kb_procedures fresh: reports closed_hours_synced and requests late hours.",
    )
    def late_partitions(context: dg.SensorEvaluationContext):
        now = clock()
        rule = freshness.Rule.from_env()
        shown = json.loads(context.cursor) if context.cursor else {}
        requests, events, notes = [], [], []
        for asset_name, job in WATCHED.items():
            verdict = freshness.judge(context.instance, asset_name, now, rule)
            state = ",".join(verdict.late) or "fresh"
            if shown.get(asset_name) != state:
                events.append(verdict.check_evaluation())
                shown[asset_name] = state
            notes.append(f"{asset_name}: {verdict.describe()}")
            for key in verdict.late:
                reason = f"{asset_name} {key}: not materialised {verdict.minutes_late(key)} min after the hour closed"
                context.log.warning("requesting %s for %s", job.name, reason)
                requests.append(
                    dg.RunRequest(run_key=_run_key(context.instance, job.name, key), job_name=job.name, partition_key=key,
                                  tags={REASON_TAG: reason})
                )
        cursor = json.dumps(shown, sort_keys=True)
        if not requests:
            return dg.SensorResult(skip_reason="; ".join(notes), asset_events=events, cursor=cursor)
        return dg.SensorResult(run_requests=requests, asset_events=events, cursor=cursor)

    return late_partitions


def _run_key(instance: dg.DagsterInstance, job_name: str, key: str) -> str:
    """One key per attempt: ticks never duplicate a request, yet a failed hour is asked for again."""
    failed = len(
        instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.FAILURE], tags={"dagster/partition": key}),
            limit=20,
        )
    )
    return f"{job_name}:{key}" + (f":retry{failed}" if failed else "")


def build_realtime_sensor(clock: Clock = _utcnow, name: str = "freshdesk_updates_sensor") -> dg.SensorDefinition:
    """Poll Freshdesk with one cheap call per tick; request the changed hour's tickets partition.

    The cursor is the newest `updated_at` seen, so each change triggers one run (run key from it).
    """

    @dg.sensor(
        name=name,
        job=jobs.tickets_job,
        minimum_interval_seconds=REALTIME_INTERVAL_S,
        default_status=automation_status(),
        description=f"One Freshdesk call every {REALTIME_INTERVAL_S} s (30 credits/hour): syncs changed tickets within minutes.",
    )
    def freshdesk_updates(context: dg.SensorEvaluationContext, freshdesk: FreshdeskResource):
        now = clock()
        cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
        since = cursor or now - timedelta(hours=1)
        with freshdesk.client() as client:
            newest = client.latest_ticket_update(since=since)
        if newest is None or (cursor is not None and newest <= cursor):
            return dg.SkipReason(f"no ticket updated since {since.isoformat()} (1 API call)")
        key = hour_key(min(newest, now))
        context.update_cursor(newest.isoformat())
        if not partition_exists(key, now):
            # Hourly partitions exist once their hour closes; the :05 schedule takes this one.
            return dg.SkipReason(f"ticket updated at {newest.isoformat()}, in hour {key} that is still open; the hourly schedule syncs it")
        reason = f"a ticket changed at {newest.isoformat()}"
        return dg.RunRequest(
            run_key=f"{jobs.tickets_job.name}:{key}:{newest.isoformat()}", partition_key=key, tags={REASON_TAG: reason}
        )

    return freshdesk_updates
