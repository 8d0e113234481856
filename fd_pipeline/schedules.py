"""Hourly schedules: each hour's partition a few minutes after the hour closes."""

from __future__ import annotations

import dagster as dg

from fd_pipeline import jobs
from fd_pipeline.settings import env_str


def default_status() -> dg.DefaultScheduleStatus:
    """FD_AUTOMATION=running turns schedules and sensors on when the code location first loads.

    Off by default: a location loaded to look around (the demo, a laptop holding production keys)
    must not start spending API credits and writing the stores by itself. Production sets it once,
    or flips the toggles in the UI; the instance remembers either choice.
    """
    value = (env_str("FD_AUTOMATION", "stopped") or "stopped").strip().lower()
    if value not in ("running", "stopped"):
        raise ValueError(f"FD_AUTOMATION must be running or stopped, got {value!r}")
    return dg.DefaultScheduleStatus.RUNNING if value == "running" else dg.DefaultScheduleStatus.STOPPED


def build_schedules() -> list:
    status = default_status()
    # The KB job lists the whole tree each run; five minutes after the tickets keeps the two runs
    # from queueing on the writer limit at the same minute.
    return [
        dg.build_schedule_from_partitioned_job(
            jobs.tickets_job, name="tickets_hourly", minute_of_hour=5, default_status=status,
            description="Tickets updated in the hour that just closed, at :05.",
        ),
        dg.build_schedule_from_partitioned_job(
            jobs.kb_job, name="kb_hourly", minute_of_hour=10, default_status=status,
            description="The knowledge base reconciled for the hour that just closed, at :10.",
        ),
    ]
