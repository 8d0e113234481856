"""Hourly schedules: each hour's partition a few minutes after the hour closes."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from fd_pipeline import jobs
from fd_pipeline.domains import DOMAINS
from fd_pipeline.partitions import hour_key


def default_status(running: bool) -> dg.DefaultScheduleStatus:
    """FD_AUTOMATION=running turns schedules and sensors on when the code location first loads.

    Off by default: a location loaded to look around (the demo, a laptop holding production keys)
    must not start spending API credits and writing the stores by itself. Production sets it once,
    or flips the toggles in the UI; the instance remembers either choice.
    """
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def build_schedules(running: bool = False) -> list:
    """Each domain's job at its own minute past the hour, for the hour that just closed."""
    status = default_status(running)
    return [
        closed_hour_schedule(jobs.COLLECTION_JOBS[domain.chain.collection], name=domain.schedule,
                             minute=domain.schedule_minute, status=status, description=domain.schedule_description)
        for domain in DOMAINS
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
