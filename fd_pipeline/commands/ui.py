"""`fd-pipeline ui`: the Dagster UI (webserver + daemon) on loopback over this project's data."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fd_pipeline.settings import data_dir

# Used when the package is installed without the repository's dagster.yaml beside it.
FALLBACK_INSTANCE_YAML = """\
concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: fd_pipeline/writer
        limit: 1
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
telemetry:
  enabled: false
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", help="open the Dagster UI on 127.0.0.1", description=__doc__)
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    home = dagster_home()
    print(f"DAGSTER_HOME={home}")
    return run_dagster_dev(args.port, env={**os.environ, "DAGSTER_HOME": str(home)})


def project_instance_yaml() -> str:
    repo_yaml = Path(__file__).resolve().parents[2] / "dagster.yaml"
    return repo_yaml.read_text() if repo_yaml.is_file() else FALLBACK_INSTANCE_YAML


def dagster_home(base: Path | None = None) -> Path:
    """DAGSTER_HOME, else <data>/dagster_home; the project's dagster.yaml is put there if missing."""
    home = Path(os.environ.get("DAGSTER_HOME") or (base or data_dir()) / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(project_instance_yaml())
    return home


def dagster_dev_command(port: int) -> list[str]:
    exe = shutil.which("dagster", path=str(Path(sys.executable).parent)) or shutil.which("dagster") or "dagster"
    return [exe, "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "fd_pipeline.definitions"]


def start_dagster_dev(port: int, env: dict, **popen) -> subprocess.Popen:
    # Its own process group: one SIGINT then stops webserver, daemon and code server together.
    return subprocess.Popen(dagster_dev_command(port), env=env, start_new_session=True, **popen)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except ProcessLookupError:
        pass


def run_dagster_dev(port: int, env: dict) -> int:
    proc = start_dagster_dev(port, env)
    print(f"Dagster UI: http://127.0.0.1:{port}  (Ctrl-C stops)", flush=True)
    try:
        while proc.poll() is None:
            time.sleep(0.5)
        return proc.returncode
    except KeyboardInterrupt:
        print("stopping the UI")
        stop(proc)
        return 0
