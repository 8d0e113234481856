"""`fd-pipeline status` and the Dagster instance: opened once per call, whatever it reads there
(syncs left running by a dead process, runs queued or in progress); a range run shows as first..last."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from fd_pipeline.commands import status
from fd_pipeline.partitions import PARTITION_TAG, range_tags

ROOT = Path(__file__).resolve().parents[1]


@dg.op
def nothing() -> None:
    pass


@dg.job
def some_job():
    nothing()


def test_status_opens_the_dagster_instance_once(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)
    for name in ("DATABASE_URL", "QDRANT_URL", "QDRANT_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FD_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    monkeypatch.setenv("QDRANT_PATH", ":memory:")
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
