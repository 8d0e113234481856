"""Hourly UTC partitions shared by both domains, starting where the desk's history starts."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from fd_pipeline.settings import env_str

START_VARIABLE = "FD_PARTITIONS_START"
HOUR_FORMAT = "%Y-%m-%d-%H:%M"


def hour_key(moment: datetime) -> str:
    """The key of the hourly partition that holds `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime(HOUR_FORMAT)


def hour_start(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)


def partitions_start(now: datetime | None = None) -> str:
    """FD_PARTITIONS_START as an hour key; a missing, malformed or future value is one clear error.

    There is no default: a start years before the desk's first ticket shows thousands of empty
    partitions, and a start after it hides history that a first sync must be able to backfill.
    """
    raw = env_str(START_VARIABLE)
    if raw is None:
        raise ValueError(
            f"{START_VARIABLE} is not set: set it to the first hour to sync, in UTC "
            "(YYYY-MM-DD or YYYY-MM-DD-HH:00), e.g. the day of the desk's oldest ticket to sync its whole history"
        )
    for fmt in (HOUR_FORMAT, "%Y-%m-%d"):
        try:
            start = datetime.strptime(raw.strip(), fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"{START_VARIABLE} must be YYYY-MM-DD or YYYY-MM-DD-HH:00 (UTC), got {raw!r}")
    if start.minute:
        raise ValueError(f"{START_VARIABLE} must start on the hour (minutes 00), got {raw!r}")
    if start > (now or datetime.now(UTC)):
        raise ValueError(f"{START_VARIABLE} is in the future ({raw!r}): no partition would exist yet")
    return start.strftime(HOUR_FORMAT)


def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    # Partition definitions are part of the code location, so the start is read when definitions load.
    # end_offset=1: the hour still open is a partition too, so the near-real-time sensor can
    # sync a new ticket within minutes; schedules and freshness only ever expect closed hours.
    return dg.HourlyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=1)


HOURLY = hourly_partitions()

# Every asset of the project: hourly partitions, and one run for a whole range of them.
HOURLY_ASSET = {"partitions_def": HOURLY, "backfill_policy": dg.BackfillPolicy.single_run()}


def check_range(first: str, last: str) -> None:
    """A partition range must name existing hours in order; a reversed one would sync nothing, silently."""
    for key in (first, last):
        if not (key.endswith(":00") and HOURLY.has_partition_key(key)):
            raise dg.Failure(
                description=f"partition {key!r} is not an hourly partition: expected YYYY-MM-DD-HH:00 (UTC) "
                f"from {START_VARIABLE}={HOURLY.start.strftime(HOUR_FORMAT)} to the hour still open"
            )
    if first > last:
        raise dg.Failure(
            description=f"partition range {first}...{last} is reversed: its start is after its end; "
            f"did you mean {last}...{first}?"
        )
