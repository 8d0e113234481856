"""Quiet by default: `fd-pipeline demo` (what `make demo` runs), `fd-pipeline status` and
`fd-pipeline search` print no Python warning and no INFO log line (no Dagster beta warning, no
Alembic migration line, no model-loading line); an error is one line; `-v` brings the log back.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from fd_pipeline_tests.webui import FD_PIPELINE, clean_env

pytestmark = pytest.mark.slow

NOISE = re.compile(r"Warning\b|warnings\.warn|\bINFO\b|\bDEBUG\b|Traceback")


def _run(*args: str, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run([FD_PIPELINE, *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=900)


def _noise(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if NOISE.search(line)]


def test_demo_status_and_search_print_no_warning_and_no_info_line(tmp_path):
    data = tmp_path / "data"
    demo = _run("demo", "--tickets", "30", "--articles", "4", "--hours", "3", cwd=tmp_path, FD_DATA_DIR=data)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert not _noise(demo), _noise(demo)
    assert "done in" in demo.stdout
    model = re.search(r"FD_EMBED_MODEL=(\S+)", demo.stdout).group(1)
    folder = data / "demo"

    status = _run("status", cwd=tmp_path, FD_DATA_DIR=folder, FD_PARTITIONS_START="2025-01-01")
    assert status.returncode == 0 and "support_tickets" in status.stdout, status.stdout + status.stderr
    assert not _noise(status), _noise(status)

    search = _run("search", "cannot log in", cwd=tmp_path, FD_DATA_DIR=folder, FD_EMBED_MODEL=model)
    assert search.returncode == 0, search.stdout + search.stderr
    assert not _noise(search), _noise(search)
    loud = _run("-v", "search", "cannot log in", cwd=tmp_path, FD_DATA_DIR=folder, FD_EMBED_MODEL=model)
    assert loud.returncode == 0 and "loaded embedding model" in loud.stderr, loud.stderr


def test_a_failing_status_is_one_line_and_nothing_else(tmp_path):
    # A fresh data folder (the sync log is created and migrated) whose Postgres cannot be reached.
    done = _run("status", cwd=tmp_path, FD_DATA_DIR=tmp_path / "data", FD_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("fd-pipeline status: error: ")


def test_status_on_a_new_data_folder_migrates_quietly(tmp_path):
    # The SQLite sync log is created and migrated by Alembic, which logs each step at INFO.
    done = _run("status", cwd=tmp_path, FD_DATA_DIR=tmp_path / "data", FD_PARTITIONS_START="2025-01-01")
    assert done.returncode == 0 and "last sync   never" in done.stdout, done.stdout + done.stderr
    assert not _noise(done), _noise(done)
    loud = _run("-v", "status", cwd=tmp_path, FD_DATA_DIR=tmp_path / "data2", FD_PARTITIONS_START="2025-01-01")
    assert "alembic" in loud.stderr.lower(), loud.stderr
