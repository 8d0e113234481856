"""UI contract: `dagster dev` on loopback over the project's code location serves, through its
GraphQL API (what the UI uses), the six assets with their lineage edges; a partition of kb_job
launched through GraphQL goes through the run queue, runs against a Freshdesk emulator and succeeds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from fd_pipeline.commands.ui import dagster_dev_command

ROOT = Path(__file__).resolve().parents[1]
EDGES = {
    ("raw_tickets", "ticket_embeddings"), ("ticket_embeddings", "support_tickets"),
    ("raw_articles", "article_embeddings"), ("article_embeddings", "kb_procedures"),
}
ASSETS_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
REPOS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
RUN_QUERY = 'query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(client: httpx.Client, query: str, variables: dict | None = None) -> dict:
    reply = client.post("/graphql", json={"query": query, "variables": variables or {}})
    reply.raise_for_status()
    body = reply.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.mark.slow
def test_ui_shows_lineage_and_runs_a_partition(make_emulator, tiny_model_dir, tmp_path, emulator_now):
    emu = make_emulator(tickets=20, articles=5)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRESHDESK_", "QDRANT_", "FD_", "DAGSTER_")) and k != "DATABASE_URL"}
    env.update({
        "DAGSTER_HOME": str(home), "FRESHDESK_BASE_URL": emu.base_url, "FRESHDESK_API_KEY": emu.api_key,
        "FD_EMBED_MODEL": str(tiny_model_dir), "FD_EMBED_DEVICE": "cpu", "FD_DATA_DIR": str(tmp_path / "data"),
    })
    port = _free_port()
    log = open(tmp_path / "dagster-dev.log", "wb")
    proc = subprocess.Popen(dagster_dev_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
                try:
                    if client.get("/server_info").status_code == 200 and _gql(client, ASSETS_QUERY)["assetNodes"]:
                        break
                except (httpx.HTTPError, AssertionError):
                    pass
                assert time.monotonic() < deadline, "webserver did not come up"
                time.sleep(1)

            nodes = _gql(client, ASSETS_QUERY)["assetNodes"]
            names = {n["assetKey"]["path"][-1] for n in nodes}
            assert names == {"raw_tickets", "ticket_embeddings", "support_tickets", "raw_articles", "article_embeddings", "kb_procedures"}
            edges = {(d["path"][-1], n["assetKey"]["path"][-1]) for n in nodes for d in n["dependencyKeys"]}
            assert edges == EDGES

            partition = (emulator_now.replace(hour=emulator_now.hour - 1)).strftime("%Y-%m-%d-%H:00")
            (repo,) = _gql(client, REPOS)["repositoriesOrError"]["nodes"]
            params = {
                "selector": {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"], "jobName": "kb_job"},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
            }
            launched = _gql(client, LAUNCH, {"params": params})["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            deadline = time.monotonic() + 150
            status = None
            while time.monotonic() < deadline:
                status = _gql(client, RUN_QUERY, {"id": run_id})["runOrError"]["status"]
                if status in ("SUCCESS", "FAILURE", "CANCELED"):
                    break
                time.sleep(2)
            assert status == "SUCCESS", (tmp_path / "dagster-dev.log").read_text()[-3000:]
            assert emu.stats.snapshot()["requests"] > 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
