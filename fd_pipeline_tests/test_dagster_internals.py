"""The Dagster internals fence (fd_pipeline/dagster_internals.py) against the installed Dagster.

The fenced calls lean on Dagster internals; the first test fails, naming the installed version,
when it is not one they were verified on: run the others on it, and if they pass add the version
to VERIFIED_VERSIONS. The others run each call on both paths, the fenced one and Dagster's public
fallback, and check they record the same thing.
"""

from __future__ import annotations

import dagster as dg
import pytest

from fd_pipeline import dagster_internals
from fd_pipeline.dagster_internals import VERIFIED_VERSIONS, execute_location_job
from fd_pipeline.partitions import range_tags

LOCATION = "fd_pipeline_tests.fixtures.tiny_location"
HOURS = [f"2025-01-01-{h:02d}:00" for h in range(6)]


def test_dagster_is_a_verified_version() -> None:
    assert dg.__version__ in VERIFIED_VERSIONS, (
        f"Dagster {dg.__version__} is installed; fd_pipeline's use of Dagster internals "
        f"(dagster_internals.py: InstanceRef.config_defaults, the step's metadata accumulator, "
        f"ReconstructableJob/execute_run; dagster_sqlite.py: the SQLite storage classes, "
        f"_update_asset_check_evaluation, the check executions table) was verified on "
        f"{', '.join(VERIFIED_VERSIONS)} only. Run this file and test_dagster_storage.py on it; if they pass, "
        "add the version to VERIFIED_VERSIONS, otherwise fix the fenced code.")
    assert dagster_internals.internals_apply()


@pytest.fixture(params=["fenced", "public"])
def path(request, monkeypatch) -> str:
    if request.param == "public":
        monkeypatch.setattr(dagster_internals, "internals_apply", lambda: False)
    return request.param


def test_a_location_job_runs_with_per_hour_metadata_on_both_paths(path, tmp_path, monkeypatch) -> None:
    """The run succeeds with its check; every hour has its own metadata (the fenced path never
    makes the public per-hour call); only the fenced path records the location's origin (what lets
    the UI list the run under its job)."""
    if path == "fenced":
        def refused(*_args, **_kwargs):
            raise AssertionError("the fenced path made the public per-partition call")

        monkeypatch.setattr(dg.AssetExecutionContext, "add_asset_metadata", refused)
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        run = execute_location_job(instance, LOCATION, "tiny_job", tags={**range_tags(HOURS[0], HOURS[-1]), "t": path},
                                   run_config={})
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "tiny_job" and run.tags["t"] == path
        assert (run.remote_job_origin is not None) == (path == "fenced")
        events = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        by_hour = {e.event_log_entry.dagster_event.partition: e.asset_materialization.metadata for e in events}
        assert sorted(by_hour) == HOURS
        assert all(md["hour"].value == hour and md["hours"].value == len(HOURS) for hour, md in by_hour.items())
        checks = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        assert [c.event_log_entry.dagster_event.asset_check_evaluation_data.passed for c in checks] == [True]
