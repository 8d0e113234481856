"""Sensors: one that keeps the hourly collections fresh, one that follows Freshdesk in near real time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from fd_pipeline import freshness, jobs
from fd_pipeline.partitions import HOURLY, PARTITION_TAG, hour_key
from fd_pipeline.tickets.collection import TICKET_ASSETS
from fd_pipeline.resources import FreshdeskResource

Clock = Callable[[], datetime]

REASON_TAG = "fd_pipeline/reason"
REALTIME_INTERVAL_S = 120
# A tick must end within Dagster's sensor timeout (60 s); a longer 429 storm is the next tick's to see out.
REALTIME_RATE_LIMIT_BUDGET_S = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _status(running: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def build_freshness_sensor(
    rule: freshness.Rule, running: bool, *, clock: Clock = _utcnow, name: str = "late_partitions_sensor"
) -> dg.SensorDefinition:
    """Judge each collection by the freshness `rule` (`fd_pipeline/freshness.py`), show the verdict
    as its `closed_hours_synced` check, and request every late hour from the collection's job.
    `running` is the sensor's status when the code location first loads.

    The check is reported only when the verdict changes, so a healthy day adds nothing to the event
    log. Run keys are `<job>:<partition>`, so an hour is requested once however many ticks see it
    late, and again (`:retryN`) after its run failed.
    """

    @dg.sensor(
        name=name,
        jobs=list(jobs.COLLECTION_JOBS.values()),
        minimum_interval_seconds=300,
        default_status=_status(running),
        description="Keeps support_tickets and kb_procedures fresh: reports closed_hours_synced and requests late hours.",
    )
    def late_partitions(context: dg.SensorEvaluationContext):
        now = clock()
        shown = json.loads(context.cursor) if context.cursor else {}
        requests, events, notes = [], [], []
        for asset_name, job in jobs.COLLECTION_JOBS.items():
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
            filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.FAILURE], tags={PARTITION_TAG: key}),
            limit=20,
        )
    )
    return f"{job_name}:{key}" + (f":retry{failed}" if failed else "")


def build_realtime_sensor(
    running: bool, *, clock: Clock = _utcnow, name: str = "freshdesk_updates_sensor"
) -> dg.SensorDefinition:
    """Poll Freshdesk with one cheap call per tick; request the changed hour's tickets partition,
    the hour still open included (it is a partition: `end_offset=1`).

    The cursor is the newest `updated_at` seen, so each change triggers one run (run key from it).
    `running` is the sensor's status when the code location first loads.
    """

    @dg.sensor(
        name=name,
        job=jobs.COLLECTION_JOBS[TICKET_ASSETS.collection],
        minimum_interval_seconds=REALTIME_INTERVAL_S,
        default_status=_status(running),
        description=f"One Freshdesk call every {REALTIME_INTERVAL_S} s (30 credits/hour): syncs changed tickets within minutes.",
    )
    def freshdesk_updates(context: dg.SensorEvaluationContext, freshdesk: FreshdeskResource):
        now = clock()
        cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
        # Never before the first partition: a change there has no partition to sync it into.
        since = max(cursor or now - timedelta(hours=1), HOURLY.start)
        with freshdesk.open(budget_s=REALTIME_RATE_LIMIT_BUDGET_S) as client:
            newest = client.latest_ticket_update(since=since)
        if newest is None or (cursor is not None and newest <= cursor):
            return dg.SkipReason(f"no ticket updated since {since.isoformat()} (1 API call)")
        key = hour_key(min(newest, now))
        context.update_cursor(newest.isoformat())
        synced = _synced_since(context.instance, key, newest)
        if synced:
            # E.g. the first tick after `fd-pipeline demo`: the demo's run already read this change.
            return dg.SkipReason(f"a ticket changed at {newest.isoformat()}; run {synced} for {key}, started after it, "
                                 "already synced it (1 API call)")
        reason = f"a ticket changed at {newest.isoformat()}"
        return dg.RunRequest(
            run_key=f"{jobs.COLLECTION_JOBS[TICKET_ASSETS.collection].name}:{key}:{newest.isoformat()}", partition_key=key, tags={REASON_TAG: reason}
        )

    return freshdesk_updates


def _synced_since(instance: dg.DagsterInstance, key: str, changed: datetime) -> str | None:
    """The run that materialised `key` of the tickets collection having started after `changed`, if any."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(TICKET_ASSETS.collection), asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    run = instance.get_run_record_by_id(records[0].run_id)
    started = run.start_time if run else None
    return records[0].run_id if started is not None and started > changed.timestamp() else None
