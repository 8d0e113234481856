"""What an asset's materialisations say about its run, and when the run fails for its failures.

Every hour of the run carries `count_<key>` for the keys its stage counts (the items of that hour:
by `updated_at`; items from outside the range, such as the retry queue, count in the range's last
hour). Figures that belong to the run as a whole (seconds, API calls, the collection size, first
errors) appear once, on the range's last hour, as `run_*` and friends. `run_totals` reads them
back per asset, as benchmarks and tests do.
"""

from collections.abc import Iterable

import dagster as dg

from fd_pipeline.dagster_internals import add_metadata_per_partition
from fd_pipeline.freshdesk import ApiStats
from fd_pipeline.run_scope import Scope
from fd_pipeline.sync.reports import EmbedReport, StepReport


def publish(
    context: dg.AssetExecutionContext, scope: Scope, report: StepReport, run_figures: dict
) -> dg.MaterializeResult:
    """Each hour of the range gets its own counts; `run_figures` go once, on the range's last hour.

    Hours without items carry zeros (the result's metadata); only hours with items get their own
    entry, so a long range costs one metadata entry per busy hour and no storage query.
    """
    zeros = {f"count_{k}": 0 for k in report.KEYS}
    own = {hour: {f"count_{k}": counts[k] for k in report.KEYS} for hour, counts in report.hours.items()}
    own[scope.last] = {**own.get(scope.last, zeros), **run_figures}
    if scope.first == scope.last:
        return dg.MaterializeResult(metadata=own[scope.last])
    # One update for all the hours: `context.add_asset_metadata(partition_key=...)` lists the whole
    # range and copies every entry so far on each call (minutes for a year of hours).
    add_metadata_per_partition(context, own)
    return dg.MaterializeResult(metadata=zeros)


# The fewest texts a run embeds for its `run_texts_per_second` to be shown.
MIN_TEXTS_FOR_SPEED = 256


def run_figures(scope: Scope, report: StepReport, *, api: ApiStats | None = None, **extra) -> dict:
    """What belongs to the run as a whole: hours covered, seconds per stage, API use, first errors."""
    md: dict = {"run_hours": dg.MetadataValue.int(round((scope.end - scope.start).total_seconds() / 3600))}
    md.update({f"run_seconds_{k}": dg.MetadataValue.float(round(report.seconds.get(k, 0.0), 3)) for k in report.SECONDS})
    if isinstance(report, EmbedReport) and report.counts["embedded"] >= MIN_TEXTS_FOR_SPEED:
        # Below that, a run's embedding time is mostly loading and batching overhead: no speed.
        embed_s = report.seconds.get("embed", 0.0)
        md["run_texts_per_second"] = dg.MetadataValue.float(round(report.counts["embedded"] / embed_s, 2) if embed_s else 0.0)
    if api is not None:
        md["run_api_calls"] = dg.MetadataValue.int(api.calls)
        md["run_api_credits"] = dg.MetadataValue.int(api.credits)
        md["run_api_throttled"] = dg.MetadataValue.int(api.throttled)
        md["run_api_retries"] = dg.MetadataValue.int(api.retries)
        md["run_api_wait_seconds"] = dg.MetadataValue.float(round(api.waited_s, 3))
    if report.failed:
        md["run_failed"] = dg.MetadataValue.int(report.failed)
        md["first_errors"] = _first_errors(report)
    md.update(extra)
    return md


def _first_errors(report: StepReport) -> dg.MetadataValue:
    """The first failures the stage kept (`MAX_ERRORS_KEPT`), one list item each."""
    return dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors))


def finish(
    context: dg.AssetExecutionContext, scope: Scope, report: StepReport, ratio: float, *, api: ApiStats | None = None, **extra
) -> dg.MaterializeResult:
    """The asset's metadata, unless too many of its items failed: then the asset fails, with the rest written."""
    result = publish(context, scope, report, run_figures(scope, report, api=api, **extra))
    check_failure_ratio(report, ratio)
    return result


def check_failure_ratio(report: StepReport, ratio: float) -> None:
    """Fail the asset, after everything else was written, when too many of its stage's items failed."""
    failed, handled = report.failed, report.handled
    if failed and failed / max(1, handled) > ratio:
        raise dg.Failure(
            description=f"{failed} of {handled} {report.items} failed (more than FD_MAX_FAILURE_RATIO={ratio}); "
            "the rest is synced and the failures are in the sync log for the next run to retry",
            metadata={"failed": failed, "handled": handled, "first_errors": _first_errors(report)},
        )


def run_totals(events: Iterable) -> dict[str, dict[str, float]]:
    """asset -> the run's figures from its materialisation events: `count_*` summed over the hours,
    everything else numeric as the run reported it once (benchmarks and tests read runs this way)."""
    totals: dict[str, dict[str, float]] = {}
    for event in events:
        asset = totals.setdefault(event.asset_key.path[-1], {})
        for key, value in event.materialization.metadata.items():
            number = value.value
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                asset[key] = asset.get(key, 0) + number if key.startswith("count_") else number
    return totals
