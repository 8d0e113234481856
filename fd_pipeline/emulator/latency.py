"""Per-request latency: what a client 100-300 ms away from Freshdesk waits on every call."""

from __future__ import annotations

import random
import threading


class Latency:
    """`ms` ± `jitter_ms` (uniform) added to every API answer; 0 (the default) adds nothing.

    The gate awaits the delay on the event loop, so a delayed request holds no thread and
    delays no other request: concurrent clients see it in parallel, as they would over a WAN.
    """

    def __init__(self, ms: float = 0.0, jitter_ms: float = 0.0, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.set(ms, jitter_ms)

    def set(self, ms: float, jitter_ms: float = 0.0) -> None:
        ms, jitter_ms = float(ms), float(jitter_ms)
        if not (ms >= 0 and jitter_ms >= 0) or ms > 60_000 or jitter_ms > 60_000:
            raise ValueError("latency_ms and jitter_ms must be between 0 and 60000")
        with self._lock:
            self.ms, self.jitter_ms = ms, jitter_ms

    def draw(self) -> float:
        """The next request's delay in seconds."""
        with self._lock:
            if self.ms == 0 and self.jitter_ms == 0:
                return 0.0
            jitter = self._rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
            return max(0.0, self.ms + jitter) / 1000.0

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            return {"latency_ms": self.ms, "jitter_ms": self.jitter_ms}
