"""Hourly schedules: each hour's partition a few minutes after the hour closes."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from fd_pipeline import jobs
from fd_pipeline.partitions import hour_key


def default_status(running: bool) -> dg.DefaultScheduleStatus:
    """FD_AUTOMATION=running turns schedules and sensors on when the code location first loads.

    Off by default: a location loaded to look around (the demo, a laptop holding production keys)
    must not start spending API credits and writing the stores by itself. Production sets it once,
    or flips the toggles in the UI; the instance remembers either choice.
    """
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def build_schedules(running: bool = False) -> list:
    status = default_status(running)
    # The KB job lists the whole tree each run; five minutes after the tickets keeps the two runs
    # from queueing on the writer limit at the same minute.
    return [
        closed_hour_schedule(
            jobs.tickets_job, name="tickets_hourly", minute=5, status=status,
            description="Tickets updated in the hour that just closed, at :05.",
        ),
        closed_hour_schedule(
            jobs.kb_job, name="kb_hourly", minute=10, status=status,
            description="The knowledge base reconciled for the hour that just closed, at :10.",
        ),
    ]


def closed_hour_schedule(job, *, name: str, minute: int, status, description: str) -> dg.ScheduleDefinition:
    """Each hour at :minute, the partition of the hour that just closed.

    Not `build_schedule_from_partitioned_job`: with `end_offset=1` its newest partition is the
    hour still open, and the schedule's job is the closed one.
    """

    @dg.schedule(
        name=name, job=job, cron_schedule=f"{minute} * * * *", execution_timezone="UTC",
        default_status=status, description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        closed = context.scheduled_execution_time.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        key = hour_key(closed)
        return dg.RunRequest(run_key=f"{job.name}:{key}", partition_key=key)

    return _schedule
