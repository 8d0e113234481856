"""Stop signals that always stop.

A signal ignored by a parent stays ignored across fork and exec, and Python then installs no
KeyboardInterrupt handler for SIGINT. Dagster maps SIGTERM to whatever SIGINT does
(`setup_interrupt_handlers`: at the start of `dagster dev`, the daemon, a code server, and each
time an in-process run restores its interrupt handlers), so a process started with SIGINT ignored
(a background job of a non-interactive shell) ignores SIGTERM as well once Dagster has run in it,
and so does every process it starts from then on. So each long-running
command installs its own handlers (`stop_signals_raise`), a process it starts begins with the
default dispositions (`default_dispositions`, a `preexec_fn`), and a run worker puts back a
SIGINT handler it was denied (`restore_stop_signals`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# What Ctrl-C, `kill`, a service manager and a closed terminal send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise `Stopped`, whatever was inherited."""

    def handler(signum, _frame):
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def default_dispositions() -> None:
    """`preexec_fn` for a child process: stop signals and SIGQUIT back to their defaults."""
    for s in (*STOP_SIGNALS, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)


def restore_stop_signals() -> None:
    """In a process that inherited SIGINT or SIGTERM ignored: SIGINT raises KeyboardInterrupt
    again, and SIGTERM does what SIGINT does (Dagster's own mapping). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
