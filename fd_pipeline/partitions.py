"""The time keys every part of the project shares: the hourly UTC partitions (starting where the
desk's history starts), their key format, and the tags that make one run cover a range of
partitions. (Each domain names its assets: `domains.py`.)

Everything but the partitions definition is plain data: importing this module reads nothing from
the environment, so a script may import `hour_key` before it sets FD_PARTITIONS_START. The
definition (`HOURLY`, `HOURLY_ASSET`) is built on first use, when the code location loads.
"""

from __future__ import annotations

import warnings

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

import dagster as dg

from fd_pipeline import settings

START_VARIABLE = "FD_PARTITIONS_START"
HOUR_FORMAT = "%Y-%m-%d-%H:%M"

# The tags Dagster reads to run one partition, or a whole range of them in one run
# (`BackfillPolicy.single_run()`); its own constants for them are private.
PARTITION_TAG = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# A run queued or in progress: it will cover its partitions unless it fails.
IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def hour_key(moment: datetime) -> str:
    """The key of the hourly partition that holds `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime(HOUR_FORMAT)


def hour_start(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the partitions first..last (a single-run backfill)."""
    return {RANGE_START: first, RANGE_END: last}


def run_partitions(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last partition a run covers, read from its tags; None for an unpartitioned run."""
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    if tags.get(RANGE_START) and tags.get(RANGE_END):
        return tags[RANGE_START], tags[RANGE_END]
    return None


def parse_hour(raw: str, setting: str) -> datetime:
    """A UTC hour written YYYY-MM-DD or YYYY-MM-DD-HH:00; a malformed one is a clear error naming `setting`."""
    for fmt in (HOUR_FORMAT, "%Y-%m-%d"):
        try:
            start = datetime.strptime(raw.strip(), fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"{setting} must be YYYY-MM-DD or YYYY-MM-DD-HH:00 (UTC), got {raw!r}")
    if start.minute:
        raise ValueError(f"{setting} must start on the hour (minutes 00), got {raw!r}")
    return start


def partitions_start(now: datetime | None = None) -> str:
    """FD_PARTITIONS_START as an hour key; a missing, malformed or future value is one clear error.

    There is no default: a start years before the desk's first ticket shows thousands of empty
    partitions, and a start after it hides history that a first sync must be able to backfill.
    """
    raw = settings.value(START_VARIABLE)
    if raw is None:
        raise ValueError(
            f"{START_VARIABLE} is not set: set it to the first hour to sync, in UTC "
            "(YYYY-MM-DD or YYYY-MM-DD-HH:00), e.g. the day of the desk's oldest ticket to sync its whole history"
        )
    start = parse_hour(raw, START_VARIABLE)
    if start > (now or datetime.now(UTC)):
        raise ValueError(f"{START_VARIABLE} is in the future ({raw!r}): no partition would exist yet")
    return start.strftime(HOUR_FORMAT)


@cache
def hourly_partitions() -> dg.HourlyPartitionsDefinition:
    """The project's partitions, built once per process.

    Partition definitions are part of the code location, so the start is read when definitions load.
    end_offset=1: the hour still open is a partition too, so the near-real-time sensor can sync a new
    ticket within minutes; schedules and freshness only ever expect closed hours.
    """
    return dg.HourlyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=1)


BACKFILL_HOURS = "FD_BACKFILL_HOURS_PER_RUN"


def backfill_policy() -> dg.BackfillPolicy:
    """How a backfill becomes runs: ranges of FD_BACKFILL_HOURS_PER_RUN hours, or one run with 0.

    Several ranges let the stages overlap, each in its own pool (`fd_pipeline/pools.py`): range
    k+1 fetches while range k embeds, so a first sync takes about its slowest stage instead of
    their sum. One run per backfill is what `dagster asset materialize --partition-range` needs.
    """
    hours = settings.value(BACKFILL_HOURS)
    if hours < 0:
        raise ValueError(f"{BACKFILL_HOURS} must be 0 (one run per backfill) or a number of hours, got {hours}")
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=hours) if hours else dg.BackfillPolicy.single_run()


def __getattr__(name: str):
    # HOURLY and HOURLY_ASSET read FD_PARTITIONS_START: built when first imported, not with this module.
    if name == "HOURLY":
        return hourly_partitions()
    if name == "HOURLY_ASSET":
        # Every asset of the project: hourly partitions, and a backfill cut into runs of ranges.
        with warnings.catch_warnings():  # beta in Dagster 1.13, and what every asset here relies on
            warnings.simplefilter("ignore", dg.BetaWarning)
            return {"partitions_def": hourly_partitions(), "backfill_policy": backfill_policy()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_range(first: str, last: str) -> None:
    """A partition range must name existing hours in order; a reversed one would sync nothing, silently."""
    hourly = hourly_partitions()
    for key in (first, last):
        if not (key.endswith(":00") and hourly.has_partition_key(key)):
            raise dg.Failure(
                description=f"partition {key!r} is not an hourly partition: expected YYYY-MM-DD-HH:00 (UTC) "
                f"from {START_VARIABLE}={hourly.start.strftime(HOUR_FORMAT)} to the hour still open"
            )
    if first > last:
        raise dg.Failure(
            description=f"partition range {first}...{last} is reversed: its start is after its end; "
            f"did you mean {last}...{first}?"
        )
