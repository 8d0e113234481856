"""UI contract: `dagster dev` on loopback over the project's code location serves, through its
GraphQL API (what the UI uses), the six assets with their lineage edges; a partition of kb_job
launched through GraphQL goes through the run queue, runs against a Freshdesk emulator and succeeds.
`fd-pipeline ui` started twice at once on a fresh DAGSTER_HOME leaves one working instance (one
Alembic head per storage, and a later command on that home works); SIGTERM or SIGINT to it stops
every process it started (webserver, daemon, code servers).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from datetime import timedelta

import httpx
import psutil
import pytest

from fd_pipeline.commands.ui import dagster_dev_command
from fd_pipeline.partitions import PARTITION_TAG, hour_key
from fd_pipeline.domains import ASSETS
from fd_pipeline.signals import default_dispositions
from fd_pipeline_tests.webui import (ASSETS_QUERY, EDGES, FD_PIPELINE, LAUNCH, ROOT, clean_env, descendants, free_port, gql,
                                     repository_selector, still_running, stop_group, wait_for_run, wait_until_serving)


@pytest.mark.slow
def test_ui_shows_lineage_and_runs_a_partition(make_emulator, tiny_model_dir, dagster_home, tmp_path, emulator_now):
    emu = make_emulator(tickets=20, articles=5)
    env = clean_env(DAGSTER_HOME=dagster_home, FRESHDESK_BASE_URL=emu.base_url, FRESHDESK_API_KEY=emu.api_key,
                    FD_EMBED_MODEL=tiny_model_dir, FD_EMBED_DEVICE="cpu", FD_DATA_DIR=tmp_path / "data")
    port = free_port()
    log_path = tmp_path / "dagster-dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(dagster_dev_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=default_dispositions)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                wait_until_serving(client, [proc], log_path)
                nodes = gql(client, ASSETS_QUERY)["assetNodes"]
                assert {n["assetKey"]["path"][-1] for n in nodes} == set(ASSETS)
                assert {(d["path"][-1], n["assetKey"]["path"][-1]) for n in nodes for d in n["dependencyKeys"]} == EDGES

                partition = hour_key(emulator_now - timedelta(hours=1))
                params = {
                    "selector": {**repository_selector(client), "jobName": "kb_job"},
                    "executionMetadata": {"tags": [{"key": PARTITION_TAG, "value": partition}]},
                }
                launched = gql(client, LAUNCH, {"params": params})["launchRun"]
                assert launched["__typename"] == "LaunchRunSuccess", launched
                assert wait_for_run(client, launched["run"]["runId"]) == "SUCCESS", log_path.read_text()[-3000:]
                assert emu.stats.snapshot()["requests"] > 0
        finally:
            stop_group(proc)


def _alembic_heads(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("select version_num from alembic_version")]


@pytest.mark.slow
def test_two_uis_at_once_on_a_fresh_home_then_sigterm_and_sigint_stop_every_child(tmp_path):
    home = tmp_path / "fresh_home"  # does not exist yet: both commands find it empty
    env = clean_env(DAGSTER_HOME=home, FD_DATA_DIR=tmp_path / "data")
    ports = [free_port(), free_port()]
    log_path = tmp_path / "ui.log"
    with open(log_path, "wb") as log:
        procs = [subprocess.Popen([FD_PIPELINE, "ui", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True) for port in ports]
        try:
            for port in ports:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    wait_until_serving(client, procs, log_path)
            started = [descendants(p.pid) for p in procs]
            for kids in started:
                lines = [" ".join(k.cmdline()) for k in kids]
                for part in ("fd_pipeline.commands.dagster_dev", "dagster_webserver", "dagster._daemon", "code-server"):
                    assert any(part in line for line in lines), (part, lines)

            procs[0].send_signal(signal.SIGTERM)
            procs[1].send_signal(signal.SIGINT)
            for proc in procs:
                assert proc.wait(120) == 0, log_path.read_text()[-3000:]
            # Orphans are reaped by init, not by the command: give them time to go on a loaded machine.
            psutil.wait_procs([k for kids in started for k in kids], timeout=60)
            left = still_running([k for kids in started for k in kids])
            assert not left, [" ".join(k.cmdline()) for k in left]
        finally:
            for proc in procs:
                stop_group(proc)

    assert _alembic_heads(home / "history" / "runs.db") and len(_alembic_heads(home / "history" / "runs.db")) == 1
    assert len(_alembic_heads(home / "schedules" / "schedules.db")) == 1
    status = subprocess.run([FD_PIPELINE, "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["dagster_runs"] == [], report
    assert not [e for e in report["errors"] if e.startswith("dagster")], report["errors"]
