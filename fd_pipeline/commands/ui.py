"""`fd-pipeline ui`: the Dagster UI (webserver + daemon) on loopback over this project's data."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from fd_pipeline.signals import STOP_SIGNALS, default_dispositions, stop_signals_raise

from .instance import DAGSTER_DEFAULTS, dagster_home, prepare_instance

__all__ = ["dagster_dev_command", "run_dagster_dev", "start_dagster_dev", "stop"]


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", help="open the Dagster UI on 127.0.0.1", description=__doc__)
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fd_pipeline.partitions import partitions_start

    partitions_start()  # the code location needs it: fail here in one line, not as a load error in the UI
    home = dagster_home()
    print(f"DAGSTER_HOME={home}", flush=True)
    return run_dagster_dev(args.port, env={**DAGSTER_DEFAULTS, **os.environ, "DAGSTER_HOME": str(home)})


def dagster_dev_command(port: int) -> list[str]:
    # `dagster dev` without the two notices that do not apply here (commands/dagster_dev.py).
    return [sys.executable, "-m", "fd_pipeline.commands.dagster_dev", "-h", "127.0.0.1", "-p", str(port),
            "-m", "fd_pipeline.definitions"]


def start_dagster_dev(port: int, env: dict, **popen) -> subprocess.Popen:
    # Its own process group: one SIGINT then stops webserver, daemon and code server together; and
    # default signal dispositions, so that SIGINT is not ignored there (nor SIGTERM, which Dagster
    # maps to SIGINT's handler) even when this process was started with them ignored.
    return subprocess.Popen(dagster_dev_command(port), env=env, start_new_session=True,
                            preexec_fn=default_dispositions, **popen)


def run_dagster_dev(port: int, env: dict) -> int:
    """Run `dagster dev` until it exits or this process gets SIGINT, SIGTERM or SIGHUP; then stop all of it."""
    prepare_instance(Path(env["DAGSTER_HOME"]))
    proc: subprocess.Popen | None = None
    tree = _Tree()
    with stop_signals_raise():
        try:
            proc = start_dagster_dev(port, env)
            print(f"Dagster UI: http://127.0.0.1:{port}  (Ctrl-C stops)", flush=True)
            while proc.poll() is None:
                tree.note(proc.pid)
                time.sleep(0.5)
            return proc.returncode
        except KeyboardInterrupt as exc:
            print(f"stopping the UI ({exc or 'SIGINT'})", flush=True)
            return 0
        finally:
            if proc is not None:
                # A second Ctrl-C or SIGTERM must not cut the shutdown short and leave children behind.
                for s in STOP_SIGNALS:
                    signal.signal(s, lambda *_: None)
                stop(proc, tree)


def stop(proc: subprocess.Popen, tree: _Tree | None = None, timeout: float = 20.0) -> None:
    """SIGINT to dagster dev's process group (its own orderly shutdown), then SIGTERM, then SIGKILL;
    finally every process ever seen under it, in case one left the group."""
    tree = tree or _Tree()
    tree.note(proc.pid, every=0)
    for signum, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    tree.reap()


class _Tree:
    """The descendants of a process, remembered while it lives: once it dies they are orphans
    that nothing links back to it."""

    def __init__(self) -> None:
        self._seen: dict[int, psutil.Process] = {}
        self._last = 0.0

    def note(self, pid: int, every: float = 2.0) -> None:
        if time.monotonic() - self._last < every:
            return
        self._last = time.monotonic()
        try:
            for child in psutil.Process(pid).children(recursive=True):
                self._seen.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def reap(self, grace: float = 10.0) -> None:
        procs = list(self._seen.values())
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for p in alive:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(alive, timeout=5)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
