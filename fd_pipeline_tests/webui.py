"""Helpers for tests that run the real Dagster webserver (`dagster dev` or `fd-pipeline ui`) and
talk to it the way the UI does: over HTTP and its GraphQL API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from fd_pipeline.domains import CHAINS

ROOT = Path(__file__).resolve().parents[1]
FD_PIPELINE = str(Path(sys.executable).parent / "fd-pipeline")
# The lineage edges the UI must draw: raw -> embeddings -> collection, per chain.
EDGES = {edge for c in CHAINS for edge in ((c.raw, c.embeddings), (c.embeddings, c.collection))}
ASSETS_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
REPOS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
RUN_QUERY = 'query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status tags { key value } } } }'
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra) -> dict:
    """This environment without the project's settings (a developer's shell may point at real services)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FRESHDESK_", "QDRANT_", "FD_", "DAGSTER_")) and k != "DATABASE_URL"}
    if os.environ.get("FD_PARTITIONS_START"):
        env["FD_PARTITIONS_START"] = os.environ["FD_PARTITIONS_START"]
    env.update({k: str(v) for k, v in extra.items()})
    return env


def gql(client: httpx.Client, query: str, variables: dict | None = None) -> dict:
    reply = client.post("/graphql", json={"query": query, "variables": variables or {}})
    reply.raise_for_status()
    body = reply.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_until_serving(client: httpx.Client, procs: list[subprocess.Popen], log: Path, timeout: float = 240) -> None:
    """Until the webserver answers and its code location has loaded the assets (slow on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        try:
            if client.get("/server_info").status_code == 200 and gql(client, ASSETS_QUERY)["assetNodes"]:
                return
        except (httpx.HTTPError, AssertionError, KeyError):
            pass
        assert time.monotonic() < deadline, f"webserver did not come up:\n{log.read_text()[-4000:]}"
        time.sleep(1)


def repository_selector(client: httpx.Client) -> dict:
    (repo,) = gql(client, REPOS)["repositoriesOrError"]["nodes"]
    return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}


def run_status(client: httpx.Client, run_id: str) -> str:
    return gql(client, RUN_QUERY, {"id": run_id})["runOrError"]["status"]


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    status = run_status(client, run_id)
    while status not in FINISHED and time.monotonic() < deadline:
        time.sleep(2)
        status = run_status(client, run_id)
    return status


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def stop_group(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Test clean-up: SIGINT to the process group (dagster dev's own shutdown), then SIGKILL all that is left."""
    kids = descendants(proc.pid)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass
    for p in still_running(kids):
        p.kill()


# What the UI's launch button sends for a run of selected assets (the in-process GraphQL context of
# the tests that drive Dagster's own daemon).
LAUNCH_EXECUTION = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
