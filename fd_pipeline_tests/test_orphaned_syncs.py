"""A sync whose process dies mid-write never stays "running": once its Dagster run is over,
`fd-pipeline status` shows no sync running (the orphaned sync_runs row is closed as abandoned,
with the reason), and the next run repairs what the dead one left half-written.

The run is a real materialisation in a child process, on the emulator, the tiny model, embedded
Qdrant on disk and the sync log, killed with SIGKILL right after its first batch of points was
written; its Dagster run is then marked failed the way Dagster's run monitoring does it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from fd_pipeline import cli
from fd_pipeline.knowledge_base.collection import KB
from fd_pipeline.tickets.collection import TICKETS

ROOT = Path(__file__).resolve().parents[1]

# The child: the pipeline's own assets and resources; the only addition holds the process still
# after its first upsert so the kill lands mid-write, between Qdrant and the sync log.
CHILD = r"""
import json, os, sys, time
from pathlib import Path
import dagster as dg
from fd_pipeline.definitions import defs
from fd_pipeline.partitions import range_tags
from fd_pipeline.domains import ASSETS
from fd_pipeline.resources import EmbedderResource, FreshdeskResource, QdrantResource, SyncLogResource, SyncSettingsResource
from fd_pipeline.vectorstore import VectorStore

args = json.loads(sys.argv[1])
real_upsert = VectorStore.upsert

def upsert_then_hold(self, *a, **kw):
    written = real_upsert(self, *a, **kw)
    Path(args["marker"]).write_text("mid-write")
    time.sleep(600)
    return written

VectorStore.upsert = upsert_then_hold
assets = [defs.get_assets_def(k) for k in ASSETS]
resources = {
    "freshdesk": FreshdeskResource(base_url=args["base_url"], api_key=args["api_key"], max_retries=3),
    "embedder": EmbedderResource(model=args["model"]),
    "qdrant": QdrantResource(path=args["qdrant"]),
    "sync_log": SyncLogResource(database_url=args["db_url"]),
    "sync_settings": SyncSettingsResource(max_failure_ratio=1.0),
}
with dg.DagsterInstance.get() as instance:
    dg.materialize(assets, resources=resources, instance=instance, tags=range_tags(args["first"], args["last"]))
"""


def _status(capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert cli.main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert cli.main(["status"]) == 0
    return report, capsys.readouterr().out


@pytest.mark.slow
def test_killed_run_is_not_shown_running_once_its_dagster_run_is_over(
    pipeline_harness, db_url, dagster_home, local_stores, tmp_path, monkeypatch, capsys
):
    harness = pipeline_harness(db_url, tickets=60, articles=6, span_hours=3)
    first, last = harness.window_keys(3)
    local_stores(db_url, harness.qdrant_path)
    monkeypatch.setenv("FD_PARTITIONS_START", first)

    marker = tmp_path / "mid-write"
    args = {"base_url": harness.emulator.base_url, "api_key": harness.emulator.api_key, "model": str(harness.model_dir),
            "qdrant": str(harness.qdrant_path), "db_url": db_url, "first": first, "last": last, "marker": str(marker)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=os.environ.copy(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while not marker.exists():
            assert child.poll() is None, "the child run ended before it wrote anything"
            assert time.monotonic() < deadline, "the child run never reached its first write"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED  # nobody has noticed yet
        report, _ = _status(capsys)
        # Its Dagster run is still in progress and its heartbeat is fresh: honestly running.
        (running,) = report["running_syncs"]
        assert running["run_id"] == run.run_id and report["closed_syncs"] == []

        instance.report_run_failed(run)  # what Dagster's run monitoring does once the worker is gone
        capsys.readouterr()
        assert cli.main(["status", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
    assert report["running_syncs"] == []
    (closed,) = report["closed_syncs"]
    assert closed["run_id"] == run.run_id and closed["collection"] == running["collection"]
    assert "Dagster run ended (FAILURE)" in closed["reason"]
    report, text = _status(capsys)
    assert report["closed_syncs"] == [] and report["running_syncs"] == []  # closed once, for good
    assert "syncs running: 0" in text

    # The next run repairs everything the killed one left half-done.
    assert harness.run(first, last).success
    report, text = _status(capsys)
    assert report["running_syncs"] == [] and "syncs running: 0" in text
    for spec in (TICKETS, KB):
        collection = report["collections"][spec.name]
        assert collection["last_sync"]["partitions"] == f"{first}..{last}"
        assert collection["points"] == collection["items"]["synced"] == len(harness.points(spec)) > 0
