"""Stop signals that always stop: a process started with SIGINT and SIGTERM ignored (what a
background job of a non-interactive shell hands down, and what Dagster's processes then extend to
SIGTERM) starts its children with the default dispositions (`default_dispositions`, what
`fd-pipeline ui` gives `dagster dev`), and a run worker takes its SIGINT handler back
(`restore_stop_signals`)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

STOP = (signal.SIGINT, signal.SIGTERM)


def _ignore_stop_signals() -> None:
    for s in STOP:
        signal.signal(s, signal.SIG_IGN)


def _ignored(status: str) -> set[int]:
    mask = int(re.search(r"SigIgn:\s*([0-9a-f]+)", status).group(1), 16)
    return {s for s in STOP if mask & (1 << (s - 1))}


CHILD = r"""
import subprocess, sys
from fd_pipeline.signals import default_dispositions
status = "import sys; sys.stdout.write(open('/proc/self/status').read())"
plain = subprocess.run([sys.executable, "-c", status], capture_output=True, text=True, timeout=600).stdout
reset = subprocess.run([sys.executable, "-c", status], capture_output=True, text=True, timeout=600,
                       preexec_fn=default_dispositions).stdout
print(plain.replace("\n", "|"))
print(reset.replace("\n", "|"))
"""


def test_a_child_started_with_default_dispositions_gets_the_stop_signals_back():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600,
                         preexec_fn=_ignore_stop_signals)
    assert out.returncode == 0, out.stderr
    plain, reset = out.stdout.splitlines()
    assert _ignored(plain.replace("|", "\n")) == set(STOP)  # what inheriting does
    assert _ignored(reset.replace("|", "\n")) == set()


def test_a_run_worker_takes_its_interrupt_handler_back():
    code = ("import signal; from fd_pipeline.signals import restore_stop_signals; restore_stop_signals(); "
            "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
            "signal.getsignal(signal.SIGTERM) is signal.default_int_handler)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         preexec_fn=_ignore_stop_signals)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
