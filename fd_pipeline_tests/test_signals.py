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


RUN_IN_PROCESS = r"""
import signal, sys
import dagster as dg
if sys.argv[1] == "restore":
    from fd_pipeline.signals import restore_stop_signals
    restore_stop_signals()

@dg.asset
def one():
    return 1

assert dg.materialize([one]).success
print(signal.getsignal(signal.SIGTERM) == signal.SIG_IGN)
"""


def test_an_in_process_run_hands_sigterm_the_ignored_sigint_unless_it_was_restored():
    """What left the suite's emulators unstoppable: in a process started with SIGINT ignored, one
    in-process Dagster run leaves SIGTERM ignored too (Dagster sets SIGTERM to SIGINT's handler when
    it restores them), and every child started afterwards inherits both. conftest restores first."""
    import dagster as dg

    seen = {}
    for mode in ("as-inherited", "restore"):
        out = subprocess.run([sys.executable, "-c", RUN_IN_PROCESS, mode], capture_output=True, text=True,
                             timeout=600, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        assert out.returncode == 0, out.stderr[-2000:]
        seen[mode] = out.stdout.split()[-1]
    assert seen == {"as-inherited": "True", "restore": "False"}, f"dagster {dg.__version__}: {seen}"
