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

from .instance import dagster_home, prepare_instance


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", help="open the Dagster UI on 127.0.0.1", description=__doc__)
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    home = dagster_home()
    print(f"DAGSTER_HOME={home}")
    return run_dagster_dev(args.port, env={**os.environ, "DAGSTER_HOME": str(home)})


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
    prepare_instance(Path(env["DAGSTER_HOME"]))
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
