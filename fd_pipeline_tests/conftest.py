"""Shared pytest set-up: each area keeps its fixtures in `fixtures/<area>.py`; and at the end of
the session, a check that no process the suite started is still running."""

import os
import uuid

import psutil
import pytest

from fd_pipeline.signals import restore_stop_signals

# The definitions need a partitions start when they load (there is no default); the tests' clocks
# sit in 2025.
os.environ.setdefault("FD_PARTITIONS_START", "2025-01-01")

# Started with SIGINT ignored (a background job of a non-interactive shell), this process would
# also come to ignore SIGTERM after its first in-process Dagster run: Dagster's interrupt handling
# (`raise_interrupts_as`) sets SIGTERM to whatever SIGINT does when it restores them. Every process
# the suite starts afterwards would inherit both ignored, and an emulator or `dagster dev` started
# by a test would then not stop on either. So the suite takes its SIGINT handler back first.
restore_stop_signals()

# Every process the suite starts inherits this mark (not FD_-prefixed, so tests that drop the
# project's settings from a child's environment keep it); at the end any process still carrying it
# was left behind, even one whose parent died and that now belongs to init.
SESSION_MARK = "PYTEST_FD_PIPELINE_SESSION"
os.environ[SESSION_MARK] = uuid.uuid4().hex

pytest_plugins = [
    "fd_pipeline_tests.fixtures.postgres",
    "fd_pipeline_tests.fixtures.emulator",
    "fd_pipeline_tests.fixtures.embedder",
    "fd_pipeline_tests.fixtures.qdrant",
    "fd_pipeline_tests.fixtures.pipeline",
    "fd_pipeline_tests.fixtures.instance",
]

# Helpers that live exactly as long as this process by design and end with it.
_COMPANIONS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _left_behind() -> list[psutil.Process]:
    mark, me = os.environ[SESSION_MARK], os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(c in " ".join(proc.info["cmdline"] or ()) for c in _COMPANIONS):
            continue
        try:
            if proc.environ().get(SESSION_MARK) == mark:
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Every fixture has been torn down by now: a process of this session still running is a test
    that did not end what it started. Name each, end it, and fail the session."""
    leaked = _left_behind()
    if leaked:
        _, leaked = psutil.wait_procs(leaked, timeout=30)  # a process may be exiting right now
    if not leaked:
        return
    lines = []
    for proc in leaked:
        try:
            lines.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:300]}")
            proc.kill()
        except psutil.Error:
            continue
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(lines)} process(es) started by the tests were still running at the end (now killed):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
