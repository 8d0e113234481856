"""Cost of giving every hour of a single-run range its own metadata (issue 11 item 3).

Materialises one probe asset over N hourly partitions three ways, side by side in one process:
`flat` (one metadata dict for every hour: what Dagster does by itself), `accumulator` (the
project's `publish`: per-hour counts in one update) and `public` (the same per-hour metadata
through `context.add_asset_metadata(partition_key=...)`, one call per hour). Prints the time spent
in the asset body and in the whole materialisation.

    FD_PARTITIONS_START=2024-01-01 .venv/bin/python bench/hourly_metadata.py 2000
"""

import sys
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fd_pipeline.run_metadata import publish  # noqa: E402
from fd_pipeline.run_scope import scope_of  # noqa: E402
from fd_pipeline.partitions import HOURLY, range_tags  # noqa: E402
from fd_pipeline.sync.reports import WriteReport  # noqa: E402


def probe_asset(mode: str, timings: dict) -> dg.AssetsDefinition:
    @dg.asset(name=f"probe_{mode}", partitions_def=HOURLY, backfill_policy=dg.BackfillPolicy.single_run())
    def probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        started = time.perf_counter()
        scope = scope_of(context)
        report = scope.report(WriteReport)
        at = scope.start
        while at < scope.end:
            report.add("new", 3, at=at)
            report.add("unchanged", 1, at=at)
            at += timedelta(hours=1)
        if mode == "flat":
            result = dg.MaterializeResult(metadata={f"count_{k}": v for k, v in report.counts.items()})
        elif mode == "accumulator":
            result = publish(context, scope, report, {"run_hours": len(report.hours)})
        else:
            for hour, counts in report.hours.items():
                context.add_asset_metadata({f"count_{k}": counts[k] for k in report.KEYS}, partition_key=hour)
            result = dg.MaterializeResult()
        timings[mode] = time.perf_counter() - started
        return result

    return probe


def main() -> None:
    hours = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    keys = HOURLY.get_partition_keys()[:hours]
    tags = range_tags(keys[0], keys[-1])
    body: dict = {}
    print(f"{len(keys)} hourly partitions in one run")
    print(f"{'mode':<12} {'body s':>8} {'run s':>8}")
    for mode in ("flat", "accumulator", "public"):
        started = time.perf_counter()
        result = dg.materialize([probe_asset(mode, body)], tags=tags)
        total = time.perf_counter() - started
        assert len(result.get_asset_materialization_events()) == len(keys)
        print(f"{mode:<12} {body[mode]:>8.2f} {total:>8.2f}")


if __name__ == "__main__":
    main()
