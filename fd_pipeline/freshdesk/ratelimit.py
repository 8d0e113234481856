"""Call accounting (`ApiStats`) and client-side pacing from Freshdesk's rate-limit headers.

Freshdesk limits credits per account per window (60 s in production) and reports
`X-RateLimit-Total` / `X-RateLimit-Remaining` on every response, but not when the window
resets. The pacer spends freely while a bucket holds more than a reserve, then spreads what is
left over the estimated rest of the window, so a steady sync never bounces off 429s. The window
length is learnt from the gap between two observed refills; until then it is assumed to be
`default_window_s`, which only makes the first windows slower, never over the limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiStats", "RatePacer"]


@dataclass
class ApiStats:
    """Cumulative counters for one client; `snapshot()` copies, `a - b` diffs two snapshots."""

    calls: int = 0
    credits: int = 0
    retries: int = 0
    throttled: int = 0
    waited_s: float = 0.0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    paced_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_call(self, endpoint: str, credits: int) -> None:
        with self._lock:
            self.calls += 1
            self.credits += credits
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def record_wait(self, seconds: float, *, pacing: bool) -> None:
        with self._lock:
            self.waited_s += seconds
            if pacing:
                self.paced_s += seconds

    def bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> ApiStats:
        with self._lock:
            return ApiStats(
                calls=self.calls,
                credits=self.credits,
                retries=self.retries,
                throttled=self.throttled,
                waited_s=self.waited_s,
                by_endpoint=dict(self.by_endpoint),
                malformed=self.malformed,
                paced_s=self.paced_s,
            )

    def as_dict(self) -> dict[str, Any]:
        snap = self.snapshot()
        return {
            "calls": snap.calls,
            "credits": snap.credits,
            "retries": snap.retries,
            "throttled": snap.throttled,
            "waited_s": round(snap.waited_s, 3),
            "paced_s": round(snap.paced_s, 3),
            "malformed": snap.malformed,
            "by_endpoint": dict(sorted(snap.by_endpoint.items())),
        }

    def __sub__(self, other: ApiStats) -> ApiStats:
        a, b = self.snapshot(), other.snapshot()
        keys = set(a.by_endpoint) | set(b.by_endpoint)
        return ApiStats(
            calls=a.calls - b.calls,
            credits=a.credits - b.credits,
            retries=a.retries - b.retries,
            throttled=a.throttled - b.throttled,
            waited_s=a.waited_s - b.waited_s,
            by_endpoint={
                k: a.by_endpoint.get(k, 0) - b.by_endpoint.get(k, 0)
                for k in sorted(keys)
                if a.by_endpoint.get(k, 0) != b.by_endpoint.get(k, 0)
            },
            malformed=a.malformed - b.malformed,
            paced_s=a.paced_s - b.paced_s,
        )

    def diff(self, earlier: ApiStats) -> ApiStats:
        """What happened since `earlier` (a snapshot of this same client)."""
        return self - earlier


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """An integer header, looked up case-insensitively (Freshdesk's docs spell both ways)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, val in headers.items():
            if key.lower() == lowered:
                value = val
                break
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass
class _Bucket:
    total: int
    remaining: int
    observed_at: float
    window_start: float | None = None  # latest time the current window can have begun
    window_start_lo: float | None = None  # earliest time it can have begun
    window_s: float | None = None
    blocked_until: float = 0.0


class RatePacer:
    """Decides how long to wait before a call, from what earlier responses reported."""

    def __init__(
        self,
        *,
        reserve_fraction: float = 0.15,
        min_reserve: int = 6,
        default_window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reserve_fraction = reserve_fraction
        self.min_reserve = min_reserve
        self.default_window_s = default_window_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def window_estimate(self, bucket: str) -> float | None:
        b = self._buckets.get(bucket)
        return None if b is None else b.window_s

    def delay_before(self, buckets: Iterable[str], cost: int) -> float:
        now = self._clock()
        with self._lock:
            return max((self._delay(b, cost, now) for name in buckets if (b := self._buckets.get(name))), default=0.0)

    def _delay(self, b: _Bucket, cost: int, now: float) -> float:
        if b.blocked_until > now:
            return b.blocked_until - now
        reserve = max(self.min_reserve, int(b.total * self.reserve_fraction))
        if b.remaining - cost >= reserve:
            return 0.0
        window = b.window_s or self.default_window_s
        start = b.window_start if b.window_start is not None else b.observed_at
        left = window - (now - start)
        if left <= 0:
            # The window should have rolled over; a probing call shows whether it did.
            return 0.0 if b.remaining >= cost else min(window * 0.05, 1.0)
        if b.remaining < cost:
            return left
        # Spread what is left evenly over the rest of the window.
        return left * cost / (b.remaining + 1)

    def spend(self, buckets: Iterable[str], credits: int) -> None:
        """Charge credits locally to buckets the response did not report on."""
        with self._lock:
            for name in buckets:
                b = self._buckets.get(name)
                if b is not None:
                    b.remaining = max(b.remaining - credits, 0)

    def observe(self, bucket: str, total: int | None, remaining: int | None) -> None:
        if total is None or remaining is None or total <= 0:
            return
        now = self._clock()
        with self._lock:
            b = self._buckets.get(bucket)
            if b is None:
                self._buckets[bucket] = _Bucket(total=total, remaining=remaining, observed_at=now)
                return
            # A big jump up is a new window; small rises would be noise from a sliding limit.
            if remaining > b.remaining and remaining - b.remaining >= max(total // 3, 1):
                # The refill happened between the previous observation and now; take the
                # longest gap consistent with that so the window is never underestimated.
                if b.window_start_lo is not None:
                    gap = now - b.window_start_lo
                    if gap > 0:
                        b.window_s = gap if b.window_s is None else min(b.window_s, gap)
                b.window_start_lo = b.observed_at
                b.window_start = now
            b.total, b.remaining, b.observed_at = total, remaining, now

    def throttled(self, bucket: str, retry_after: float) -> None:
        now = self._clock()
        with self._lock:
            b = self._buckets.get(bucket)
            if b is None:
                b = self._buckets[bucket] = _Bucket(total=1, remaining=0, observed_at=now)
            b.remaining = 0
            b.blocked_until = max(b.blocked_until, now + retry_after)
