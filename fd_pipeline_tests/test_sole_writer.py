"""One writer per pool, also outside the run queue: of two `dagster asset materialize` commands
started at the same moment on the same stores, exactly one proceeds and succeeds; the other stops
at its first step with one line naming the run that holds the pool. (Each used to see the other
in progress and both refused.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from fd_pipeline.commands.instance import prepare_instance
from fd_pipeline.emulator.faults import FaultConfig

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_of_two_simultaneous_cli_runs_exactly_one_proceeds(attempt, make_emulator, dagster_home, tmp_path, monkeypatch):
    emu = make_emulator(tickets=10, articles=6)
    # Each Freshdesk answer takes a while, so the first run is still in progress when the second checks.
    emu.set_faults(FaultConfig(rate_slow=1.0, slow_s=1.0))
    partition = "2025-06-02-11:00"
    env = {
        **os.environ, "DAGSTER_HOME": str(dagster_home), "FD_PARTITIONS_START": "2025-06-01",
        "FRESHDESK_BASE_URL": emu.base_url, "FRESHDESK_API_KEY": emu.api_key,
        "FD_DATABASE_URL": f"sqlite:///{tmp_path / 'sync.db'}", "QDRANT_PATH": str(tmp_path / "qdrant"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name in ("FRESHDESK_DOMAIN", "QDRANT_URL", "QDRANT_HOST", "DATABASE_URL"):
        env.pop(name, None)
    prepare_instance(dagster_home)  # the storages exist before the two commands open them
    command = [str(DAGSTER), "asset", "materialize", "-m", "fd_pipeline.definitions", "--select", "raw_articles",
               "--partition", partition]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    codes = [p.returncode for p in procs]
    assert sorted(c == 0 for c in codes) == [False, True], (codes, outputs)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        runs = {r.status: r for r in instance.get_runs()}
    assert set(runs) == {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    loser = outputs[codes.index(next(c for c in codes if c != 0))]
    assert f"run {runs[dg.DagsterRunStatus.SUCCESS].run_id}" in loser and "is writing the stores of pool 'fd_stores'" in loser
