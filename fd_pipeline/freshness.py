"""The project's one freshness rule, shared by the check that shows it and the sensor that acts on it.

A collection is fresh when every closed hour of the last `Rule.lookback_hours` is materialised, or
is being materialised (a run for it is queued or in progress), by `Rule.grace` after the hour
closed. The hour still open is never expected: partitions have `end_offset=1` only so the
near-real-time sensor can sync it early. definitions.py builds the one Rule from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from fd_pipeline.jobs import COLLECTION_JOBS
from fd_pipeline.partitions import HOURLY, IN_FLIGHT, hour_key, hour_start, run_partitions

CHECK_NAME = "closed_hours_synced"
# Jobs that write only one collection; any other run (the main job, an asset page's) may write both.
_JOB_WRITES = {job.name: collection for collection, job in COLLECTION_JOBS.items()}


@dataclass(frozen=True)
class Rule:
    """How many closed hours are inspected, and how long after its hour closes a partition may be missing."""

    lookback_hours: int = 6
    grace: timedelta = timedelta(minutes=20)


@dataclass(frozen=True)
class Verdict:
    """Which closed hours of one collection are due, and which of them are late."""

    asset: str
    due: list[str]
    late: list[str]
    running: list[str]
    now: datetime

    @property
    def fresh(self) -> bool:
        return not self.late

    def minutes_late(self, key: str) -> int:
        return int((self.now - hour_start(key) - timedelta(hours=1)).total_seconds() // 60)

    def describe(self) -> str:
        if self.late:
            first = self.late[0]
            return (f"{len(self.late)} closed hour(s) not synced past the grace period: "
                    f"{', '.join(self.late)} (the oldest {self.minutes_late(first)} min after it closed)")
        if not self.due:
            return "no closed hour is due yet"
        return f"the last {len(self.due)} closed hours are synced" + (f" ({len(self.running)} by a run in progress)" if self.running else "")

    def check_result(self) -> dg.AssetCheckResult:
        """The verdict as the check reports it from a run."""
        return dg.AssetCheckResult(**self._check())

    def check_evaluation(self) -> dg.AssetCheckEvaluation:
        """The same verdict as the sensor reports it, outside a run."""
        return dg.AssetCheckEvaluation(asset_key=dg.AssetKey(self.asset), **self._check())

    def _check(self) -> dict:
        return dict(
            check_name=CHECK_NAME, passed=self.fresh, severity=dg.AssetCheckSeverity.WARN, description=self.describe(),
            metadata={"late_hours": len(self.late), "due_hours": len(self.due), "late": ", ".join(self.late) or "none"},
        )


def partition_exists(key: str, now: datetime) -> bool:
    """Whether `key` is an hourly partition at `now`: after the start, and closed (or within end_offset)."""
    start = hour_start(key)
    return start >= HOURLY.start.astimezone(UTC) and start + timedelta(hours=1 - HOURLY.end_offset) <= now


def due_hours(now: datetime, rule: Rule) -> list[str]:
    """Closed hours of the lookback whose grace period is over, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    keys = [hour_key(top - timedelta(hours=h)) for h in range(rule.lookback_hours, 0, -1)]
    return [k for k in keys if partition_exists(k, now) and hour_start(k) + timedelta(hours=1) + rule.grace <= now]


def in_flight_partitions(instance: dg.DagsterInstance, asset: str) -> set[str]:
    """Partitions of `asset` that a queued or running run covers, whatever launched it."""
    covered: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(IN_FLIGHT)), limit=200):
        if run.asset_selection is not None:
            if dg.AssetKey(asset) not in run.asset_selection:
                continue
        elif _JOB_WRITES.get(run.job_name, asset) != asset:
            continue
        keys = run_partitions(run.tags)
        if keys is None:
            continue
        first, last = keys
        covered.update([first] if first == last else HOURLY.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
    return covered


def judge(instance: dg.DagsterInstance, asset: str, now: datetime, rule: Rule) -> Verdict:
    due = due_hours(now, rule)
    if not due:
        return Verdict(asset, [], [], [], now)
    done = instance.get_materialized_partitions(dg.AssetKey(asset))
    missing = [k for k in due if k not in done]
    running = in_flight_partitions(instance, asset) if missing else set()
    return Verdict(asset, due, [k for k in missing if k not in running], [k for k in missing if k in running], now)
