"""Sensors: one that acts on late hourly partitions, one that follows Freshdesk in near real time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from fd_pipeline import jobs
from fd_pipeline.partitions import HOURLY
from fd_pipeline.resources import FreshdeskResource
from fd_pipeline.settings import env_int
from fd_pipeline.vectorstore import KB, TICKETS

Clock = Callable[[], datetime]

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
REASON_TAG = "fd_pipeline/reason"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# collection asset -> the job that rebuilds its partition
WATCHED = {TICKETS.name: jobs.tickets_job, KB.name: jobs.kb_job}
REALTIME_INTERVAL_S = 120


def _utcnow() -> datetime:
    return datetime.now(UTC)


def hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime(HOURLY.fmt)


def _hour_start(key: str) -> datetime:
    return datetime.strptime(key, HOURLY.fmt).replace(tzinfo=UTC)


def automation_status() -> dg.DefaultSensorStatus:
    from fd_pipeline.schedules import default_status

    return dg.DefaultSensorStatus.RUNNING if default_status() == dg.DefaultScheduleStatus.RUNNING else dg.DefaultSensorStatus.STOPPED


def closed_hours(now: datetime, lookback_hours: int) -> list[str]:
    """Keys of the last `lookback_hours` hours that have closed, oldest first, within the partitions."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    keys = [hour_key(top - timedelta(hours=h)) for h in range(lookback_hours, 0, -1)]
    return [k for k in keys if partition_exists(k, now)]


def partition_exists(key: str, now: datetime) -> bool:
    """Whether `key` is an hourly partition at `now`: after the start, and closed (or within end_offset)."""
    start = _hour_start(key)
    first = HOURLY.start.astimezone(UTC)
    return start >= first and start + timedelta(hours=1 - HOURLY.end_offset) <= now


def in_flight_partitions(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """Partitions that a queued or running run of `job_name` (or the combined job) already covers."""
    covered: set[str] = set()
    for name in (job_name, jobs.sync_all_job.name):
        for run in instance.get_runs(filters=dg.RunsFilter(job_name=name, statuses=IN_FLIGHT), limit=100):
            tags = run.tags
            if tags.get("dagster/partition"):
                covered.add(tags["dagster/partition"])
            elif tags.get(RANGE_START) and tags.get(RANGE_END):
                covered.update(HOURLY.get_partition_keys_in_range(dg.PartitionKeyRange(tags[RANGE_START], tags[RANGE_END])))
    return covered


def build_freshness_sensor(clock: Clock = _utcnow, name: str = "late_partitions_sensor") -> dg.SensorDefinition:
    """Request each closed hour whose collection partition is missing once the grace period is over.

    Looks back FD_FRESHNESS_LOOKBACK_HOURS (default 6) hours; an hour is late FD_FRESHNESS_GRACE_MINUTES
    (default 20) after it closes, which leaves the :05 schedule time to finish. Run keys are
    `<job>:<partition>`, so an hour is requested once however many ticks see it late.
    """

    @dg.sensor(
        name=name,
        jobs=list(WATCHED.values()),
        minimum_interval_seconds=300,
        default_status=automation_status(),
        description="Requests the hourly partitions of support_tickets and kb_procedures that are late or missing.",
    )
    def late_partitions(context: dg.SensorEvaluationContext):
        now = clock()
        lookback = env_int("FD_FRESHNESS_LOOKBACK_HOURS", 6)
        grace = timedelta(minutes=env_int("FD_FRESHNESS_GRACE_MINUTES", 20))
        hours = [k for k in closed_hours(now, lookback) if _hour_start(k) + timedelta(hours=1) + grace <= now]
        if not hours:
            return dg.SkipReason(f"no closed hour past its {grace} grace period in the last {lookback} h")
        requests, notes = [], []
        for asset_name, job in WATCHED.items():
            done = context.instance.get_materialized_partitions(dg.AssetKey(asset_name))
            running = in_flight_partitions(context.instance, job.name)
            for key in hours:
                if key in done:
                    continue
                if key in running:
                    notes.append(f"{asset_name} {key}: a run is already queued or running")
                    continue
                late_by = now - (_hour_start(key) + timedelta(hours=1))
                reason = f"{asset_name} {key}: not materialised {int(late_by.total_seconds() // 60)} min after the hour closed"
                context.log.info("requesting %s for %s", job.name, reason)
                # A run key per failed attempt: ticks never duplicate a request, yet an hour whose
                # run failed is asked for again on a later tick.
                failed = len(
                    context.instance.get_runs(
                        filters=dg.RunsFilter(
                            job_name=job.name, statuses=[dg.DagsterRunStatus.FAILURE], tags={"dagster/partition": key}
                        ),
                        limit=20,
                    )
                )
                run_key = f"{job.name}:{key}" + (f":retry{failed}" if failed else "")
                requests.append(
                    dg.RunRequest(run_key=run_key, job_name=job.name, partition_key=key, tags={REASON_TAG: reason})
                )
        if not requests:
            detail = "; ".join(notes) if notes else "every partition is materialised"
            return dg.SkipReason(f"last {len(hours)} closed hours fresh: {detail}")
        return dg.SensorResult(run_requests=requests)

    return late_partitions


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
