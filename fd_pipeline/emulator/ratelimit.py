"""Freshdesk's per-account credit budget: fixed windows, an overall limit and the sub-limits of the
tickets list and the contacts list."""

from __future__ import annotations

import math
import threading
import time

# plan -> (credits per window, tickets-list and contacts-list sub-limit or None); Freshdesk gives both
# lists the same sub-limit, each counted on its own.
PLANS: dict[str, tuple[int, int | None]] = {
    "trial": (50, None),
    "growth": (200, 20),
    "pro": (400, 100),
    "enterprise": (700, 200),
}
SUB_LIMITED = ("tickets", "contacts")


class RateLimiter:
    """Credits per window (Freshdesk: per minute). Windows use the real monotonic clock."""

    def __init__(self, plan: str = "enterprise", window_s: float = 60.0) -> None:
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {sorted(PLANS)}, not {plan!r}")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.plan = plan
        self.total, self.list_limit = PLANS[plan]
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._window = -1
        self._used = 0
        self._list_used: dict[str, int] = {}

    def _roll(self, now: float) -> None:
        w = int((now - self._t0) // self.window_s)
        if w != self._window:
            self._window, self._used, self._list_used = w, 0, {}

    def retry_after(self) -> int:
        now = time.monotonic()
        end = self._t0 + (int((now - self._t0) // self.window_s) + 1) * self.window_s
        return max(1, math.ceil(end - now))

    def charge(self, cost: int, *, sub_limit: str | None = None) -> tuple[bool, int]:
        """Spend `cost` credits: (allowed, remaining). `sub_limit` names the list whose own budget
        the call also spends (one of SUB_LIMITED). A refused call costs nothing."""
        with self._lock:
            self._roll(time.monotonic())
            list_used = self._list_used.get(sub_limit, 0) if sub_limit else 0
            over = self._used >= self.total or (
                sub_limit is not None and self.list_limit is not None and list_used >= self.list_limit)
            if over:
                return False, max(0, self.total - self._used)
            self._used += cost
            if sub_limit is not None:
                self._list_used[sub_limit] = list_used + cost
            return True, max(0, self.total - self._used)

    def remaining(self) -> int:
        with self._lock:
            self._roll(time.monotonic())
            return max(0, self.total - self._used)

    def reset(self) -> None:
        with self._lock:
            self._t0, self._window, self._used, self._list_used = time.monotonic(), -1, 0, {}
