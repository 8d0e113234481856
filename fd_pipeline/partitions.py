"""Hourly UTC partitions shared by both domains."""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_START = "2025-01-01-00:00"


def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    # Partition definitions are part of the code location, so this is read when definitions load.
    start = os.environ.get("FD_PARTITIONS_START") or DEFAULT_START
    return dg.HourlyPartitionsDefinition(start_date=start, timezone="UTC")


HOURLY = hourly_partitions()
