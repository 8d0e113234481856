"""One holder per pool, also outside the run queue. Two `dagster asset materialize` commands
started at the same moment on the same stores:

- on one instance, the second waits for its pool's slot (`granularity: op`) and both succeed, one
  after the other;
- on two instances (two DAGSTER_HOMEs share no slots), exactly one proceeds; the other stops at its
  first step with one line naming the run that holds the pool in the sync log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from fd_pipeline.commands.instance import prepare_instance
from fd_pipeline.emulator.faults import FaultConfig

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
PARTITION = "2025-06-02-11:00"


def _start_two(emu, homes: list[Path], tmp_path: Path) -> list[tuple[int, str]]:
    """Start `dagster asset materialize raw_articles` once per home, at the same moment, on one set of stores."""
    base = {
        **os.environ, "FD_PARTITIONS_START": "2025-06-01",
        "FRESHDESK_BASE_URL": emu.base_url, "FRESHDESK_API_KEY": emu.api_key,
        "FD_DATABASE_URL": f"sqlite:///{tmp_path / 'sync.db'}", "QDRANT_PATH": str(tmp_path / "qdrant"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name in ("FRESHDESK_DOMAIN", "QDRANT_URL", "QDRANT_HOST", "DATABASE_URL"):
        base.pop(name, None)
    for home in set(homes):
        prepare_instance(home)  # the storages exist before the two commands open them
    command = [str(DAGSTER), "asset", "materialize", "-m", "fd_pipeline.definitions", "--select", "raw_articles",
               "--partition", PARTITION]
    procs = [subprocess.Popen(command, cwd=ROOT, env={**base, "DAGSTER_HOME": str(home)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for home in homes]
    try:
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        return [(p.returncode, out) for p, out in zip(procs, outputs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _runs(home: Path, monkeypatch) -> list[dg.DagsterRun]:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


def _step_span(home: Path, run_id: str, monkeypatch) -> tuple[float, float]:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        start = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)[0].timestamp
        end = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)[0].timestamp
    return start, end


@pytest.mark.slow
def test_on_one_instance_the_second_waits_for_the_slot_and_both_succeed(make_emulator, dagster_home, tmp_path, monkeypatch):
    emu = make_emulator(tickets=10, articles=6)
    # Each Freshdesk answer takes a while, so the first fetch is still in progress when the second starts.
    emu.set_faults(FaultConfig(rate_slow=1.0, slow_s=1.0))
    results = _start_two(emu, [dagster_home, dagster_home], tmp_path)

    assert [code for code, _ in results] == [0, 0], results
    runs = _runs(dagster_home, monkeypatch)
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS} and len(runs) == 2
    first, second = sorted(_step_span(dagster_home, r.run_id, monkeypatch) for r in runs)
    assert first[1] <= second[0], (first, second)  # the fetch steps never overlapped


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(2))
def test_on_two_instances_exactly_one_proceeds(attempt, make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(tickets=10, articles=6)
    # Longer still: the two commands load side by side on a busy machine, so one may start seconds
    # after the other, and its step must still meet the first one's fetch in progress.
    emu.set_faults(FaultConfig(rate_slow=1.0, slow_s=4.0))
    homes = [tmp_path / "home_a", tmp_path / "home_b"]
    for home in homes:
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    results = _start_two(emu, homes, tmp_path)

    codes = [code for code, _ in results]
    if codes == [0, 0]:
        # On a loaded machine one command may reach its step only after the other's fetch ended:
        # then both succeed, one after the other, and never fetch at once.
        spans = sorted(_step_span(home, _runs(home, monkeypatch)[0].run_id, monkeypatch) for home in homes)
        assert spans[0][1] <= spans[1][0], spans
        return
    assert sorted(c == 0 for c in codes) == [False, True], results
    winner_home = homes[codes.index(0)]
    loser_output = results[1 - codes.index(0)][1]
    (winner,) = _runs(winner_home, monkeypatch)
    assert winner.status == dg.DagsterRunStatus.SUCCESS
    assert f"run {winner.run_id}" in loser_output and "holds pool 'fd_freshdesk'" in loser_output, loser_output
