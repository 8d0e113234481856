"""The standard Dagster doors, from a copy of the repository's layout (dagster.yaml, workspace.yaml,
pyproject.toml, the package) with nothing set but FD_PARTITIONS_START:
- `dagster definitions validate -w workspace.yaml` and `-m fd_pipeline.definitions` exit 0 on
  Dagster's temporary home (DAGSTER_HOME unset);
- `dagster dev`, `dg dev` and `dagster-webserver` serve the UI with the six assets, the instance
  stored through the project's storage in Dagster's temporary home;
- two plain `dagster asset materialize` started at once on a never-used DAGSTER_HOME leave a
  working instance (10 of 10 tries), as the storage creates its files under a lock.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from fd_pipeline.domains import ASSETS

from fd_pipeline_tests.webui import ASSETS_QUERY, ROOT, clean_env, free_port, gql, stop_group, wait_until_serving

DAGSTER = str(Path(sys.executable).parent / "dagster")
DG = str(Path(sys.executable).parent / "dg")
LAYOUT = ("dagster.yaml", "workspace.yaml", "pyproject.toml")


def _layout(folder: Path) -> Path:
    for name in LAYOUT:
        shutil.copy(ROOT / name, folder / name)
    # dg looks for the project's root module inside the project folder, as in a clone.
    (folder / "fd_pipeline").symlink_to(ROOT / "fd_pipeline", target_is_directory=True)
    return folder


def _env(**extra) -> dict:
    env = clean_env(FD_PARTITIONS_START="2025-01-01", **extra)
    # The package under test, as a fresh clone's editable install would find it.
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("command, says", [
    ([DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], "Validation successful"),
    ([DAGSTER, "definitions", "validate", "-m", "fd_pipeline.definitions"], "Validation successful"),
    ([DG, "check", "defs"], "All definitions loaded successfully"),  # pyproject.toml's [tool.dg]
])
def test_definitions_validate_on_dagsters_temporary_home(tmp_path, command, says):
    folder = _layout(tmp_path)
    done = subprocess.run(command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not list(folder.glob(".tmp_dagster_home_*"))  # Dagster removed its temporary home


@pytest.mark.slow
@pytest.mark.parametrize("dev", [
    [DAGSTER, "dev", "-h", "127.0.0.1"],
    [DG, "dev", "--host", "127.0.0.1"],
    [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1"],
])
def test_dagster_dev_serves_the_six_assets_with_dagster_home_unset(tmp_path, dev):
    folder = _layout(tmp_path)
    port = free_port()
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*dev, "-p", str(port)], cwd=folder, env=_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        wait_until_serving(client, [proc], log_path, timeout=600)
        names = {node["assetKey"]["path"][-1] for node in gql(client, ASSETS_QUERY)["assetNodes"]}
        assert names == set(ASSETS)
        (home,) = folder.glob(".tmp_dagster_home_*")
        # The project's storage, in Dagster's temporary home: the run database is there.
        assert (home / "history" / "runs.db").is_file()
    finally:
        client.close()
        stop_group(proc)
    assert "Traceback" not in log_path.read_text()


TINY_DEFS = textwrap.dedent('''
    import dagster as dg

    @dg.asset
    def tiny() -> int:
        return 1

    defs = dg.Definitions(assets=[tiny])
''')


@pytest.mark.slow
def test_two_materialize_commands_on_a_never_used_home_leave_a_working_instance(tmp_path):
    import dagster as dg

    (tmp_path / "tiny_defs.py").write_text(TINY_DEFS)
    for attempt in range(10):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        env = _env(DAGSTER_HOME=home)
        command = [DAGSTER, "asset", "materialize", "-f", str(tmp_path / "tiny_defs.py"), "--select", "tiny"]
        procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for _ in range(2)]
        try:
            outputs = [p.communicate(timeout=600)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [p.returncode for p in procs] == [0, 0], (attempt, outputs)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs()
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, attempt
            assert instance.get_latest_materialization_event(dg.AssetKey("tiny")) is not None
            # One alembic head per database: opening and migrating again works.
            instance.upgrade(print_fn=None)
