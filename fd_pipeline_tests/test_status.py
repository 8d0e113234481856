"""`fd-pipeline status` and the Dagster instance: opened once per call, whatever it reads there
(syncs left running by a dead process, runs queued or in progress); a range run shows as first..last."""

from __future__ import annotations

import dagster as dg

from fd_pipeline.commands import status
from fd_pipeline.partitions import PARTITION_TAG, range_tags

@dg.op
def nothing() -> None:
    pass


@dg.job
def some_job():
    nothing()


def test_status_opens_the_dagster_instance_once(dagster_home, local_stores, tmp_path, monkeypatch):
    local_stores(f"sqlite:///{tmp_path / 'sync.db'}", ":memory:")
    with dg.DagsterInstance.get() as instance:
        one = instance.create_run_for_job(some_job, tags={PARTITION_TAG: "2025-06-02-11:00"}, status=dg.DagsterRunStatus.NOT_STARTED)
        many = instance.create_run_for_job(some_job, tags=range_tags("2025-06-02-01:00", "2025-06-02-05:00"),
                                           status=dg.DagsterRunStatus.STARTED)

    opened = []
    real_get = dg.DagsterInstance.get

    def counted_get():
        opened.append(1)
        return real_get()

    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(counted_get))
    report = status.collect()

    assert len(opened) == 1, report["errors"]
    assert sorted((r["run_id"], r["partitions"]) for r in report["dagster_runs"]) == sorted(
        [(one.run_id, "2025-06-02-11:00"), (many.run_id, "2025-06-02-01:00..2025-06-02-05:00")]
    )
    assert not [e for e in report["errors"] if e.startswith("dagster")], report["errors"]
