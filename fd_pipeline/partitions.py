"""Hourly UTC partitions shared by both domains."""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_START = "2025-01-01-00:00"


def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    # Partition definitions are part of the code location, so this is read when definitions load.
    start = os.environ.get("FD_PARTITIONS_START") or DEFAULT_START
    # end_offset=1: the hour still open is a partition too, so the near-real-time sensor can
    # sync a new ticket within minutes; schedules still take the hour that just closed.
    return dg.HourlyPartitionsDefinition(start_date=start, timezone="UTC", end_offset=1)


HOURLY = hourly_partitions()

# Every asset of the project: hourly partitions, and one run for a whole range of them.
HOURLY_ASSET = {"partitions_def": HOURLY, "backfill_policy": dg.BackfillPolicy.single_run()}
