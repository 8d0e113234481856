"""Call accounting (`ApiStats`) and client-side pacing from Freshdesk's rate-limit headers.

Freshdesk limits credits per account per window (60 s in production) and reports
`X-RateLimit-Total` / `X-RateLimit-Remaining` on every response, but not when the window
resets. The pacer spends freely while a bucket holds more than a reserve, then spreads what is
left over the estimated rest of the window, so a steady sync never bounces off 429s. The window
length is learnt from the gap between two observed refills; until then it is assumed to be
`DEFAULT_WINDOW_S`, which only makes the first windows slower, never over the limit. A window
learnt by an earlier run can be set (`window_hint_s`): it replaces the default until this
run learns its own, so a run that makes only Tickets-List calls (a re-sync with nothing changed:
no conversation reads between the pages to show the refills) does not wait out the default window
each time the small list sub-limit runs dry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiStats", "RatePacer", "WaitBudget"]


@dataclass
class ApiStats:
    """Cumulative counters for one client; `snapshot()` copies them consistently."""

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


# Freshdesk's documented per-minute sub-limit for the Tickets List call, by overall limit
# (Growth 200/20, Pro 400/100, Enterprise 700/200); responses report only the overall budget.
TICKETS_LIST_SUBLIMITS: dict[int, int] = {200: 20, 400: 100, 700: 200}
ACCOUNT = "account"
TICKETS_LIST = "tickets_list"
# A plan outside the table gets this share of its account limit for Tickets List.
UNKNOWN_LIST_FRACTION = 0.1
# Calls go at once while a bucket holds more than this share of its total (at least MIN_RESERVE);
# the reserve is what gets spread over the rest of the window.
RESERVE_FRACTION = 0.15
MIN_RESERVE = 6
# How many windows old an earlier run's window phase may be to be resumed (`RatePacer.resume`).
RESUME_WINDOWS = 10
# Freshdesk's production window; assumed until a refill shows the real one.
DEFAULT_WINDOW_S = 60.0
# The first gap between paced calls while the window is unknown; it doubles with each paced call.
PROBE_S = 0.1


@dataclass
class _Bucket:
    total: int
    remaining: int
    observed_at: float
    blocked_until: float = 0.0
    sent_at: float = 0.0  # when the request behind the latest observation was sent
    probes: int = 0  # paced calls since the last refill, while the window length is unknown


class RatePacer:
    """Decides how long to wait before a call, from what earlier responses reported.

    Bucket `account` follows the response headers. Bucket `tickets_list` is the plan's
    Tickets-List sub-limit, which no header reports: it is charged locally and refilled
    whenever the account bucket is seen to refill (both share Freshdesk's window).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.window_s: float | None = None  # learnt: never below the true window
        # A window learnt by an earlier run (`FreshdeskClient.recall_rate_window` sets it).
        self.window_hint_s: float | None = None
        self._window_start: float | None = None  # latest time the current window can have begun
        self._window_start_lo: float | None = None  # earliest time it can have begun
        self._first_seen: float | None = None

    def window_began_at(self) -> float | None:
        """The wall-clock time (`time.time()`) the current window began, once a refill showed it."""
        with self._lock:
            if self._window_start is None:
                return None
            return self._wall() - (self._clock() - self._window_start)

    def resume(self, window_s: float, began_at: float) -> None:
        """Go on pacing where an earlier run of the same account left off: its window length and
        the wall-clock time one of its windows began (`window_began_at`).

        The windows follow each other, so the current one began a whole number of windows after
        `began_at`, and this run spreads what is left of it from its first response instead of
        assuming the window began at its first call (which made each range of a backfill pace a
        fresh window's worth of caution). Both figures err late (a refill is seen when its
        response arrives; a learnt window is never shorter than the true one), so the window is
        thought to end later than it does, never sooner. A phase older than RESUME_WINDOWS windows
        is not trusted: a small error in the length would add up.
        """
        now, wall = self._clock(), self._wall()
        with self._lock:
            age = wall - began_at
            if self._window_start is not None or window_s <= 0 or not 0 <= age <= RESUME_WINDOWS * window_s:
                return
            self.window_s = window_s
            self._window_start = now - age % window_s

    def delay_before(self, buckets: Iterable[str], cost: int) -> float:
        now = self._clock()
        with self._lock:
            delays = [self._delay(b, cost, now) for name in buckets if (b := self._buckets.get(name))]
            return max(delays, default=0.0)

    def _delay(self, b: _Bucket, cost: int, now: float) -> float:
        if b.blocked_until > now:
            return b.blocked_until - now
        reserve = max(MIN_RESERVE, int(b.total * RESERVE_FRACTION))
        if b.remaining - cost >= reserve:
            return 0.0
        start = self._window_start if self._window_start is not None else (self._first_seen or now)
        if self.window_s is not None and self._window_start is not None:
            left = self.window_s - (now - start)
            if left <= 0:
                return 0.0  # the window has certainly rolled over; this call will show it
            if b.remaining < cost:
                return left
            # Spread what is left evenly over the rest of the window.
            return left * cost / (b.remaining + 1)
        # Window length unknown: probe with growing gaps so the reserve outlasts any window up
        # to the assumed one, and the last affordable call waits that long.
        assumed = self.window_hint_s or DEFAULT_WINDOW_S  # window_s is only ever learnt with a window start
        left = max(assumed - (now - start), 0.0)
        if b.remaining - cost < cost:
            return left
        return min(PROBE_S * (2 ** b.probes), left)

    def note_paced(self, buckets: Iterable[str]) -> None:
        with self._lock:
            for name in buckets:
                b = self._buckets.get(name)
                if b is not None:
                    b.probes += 1

    def spend(self, buckets: Iterable[str], credits: int) -> None:
        """Charge a call to buckets that no header reports on (the Tickets-List sub-limit)."""
        with self._lock:
            for name in buckets:
                b = self._buckets.get(name)
                if b is not None:
                    b.remaining = max(b.remaining - credits, 0)

    def now(self) -> float:
        return self._clock()

    def observe(self, total: int | None, remaining: int | None, sent_at: float | None = None) -> None:
        """Record the account budget a response reported; `sent_at` is when its request left."""
        if total is None or remaining is None or total <= 0:
            return
        now = self._clock()
        sent_at = now if sent_at is None else sent_at
        with self._lock:
            if self._first_seen is None:
                self._first_seen = now
            b = self._buckets.get(ACCOUNT)
            if b is None:
                self._buckets[ACCOUNT] = _Bucket(total=total, remaining=remaining, observed_at=now, sent_at=sent_at)
                self._buckets[TICKETS_LIST] = self._list_bucket(total, now)
                return
            # A rise means a new window. Tiny rises can be responses overtaking each other, unless
            # this request left after the previous response arrived: then the server charged that
            # one first, so any rise is a refill (a list-only run spends too little per window to
            # show a large one).
            rise = remaining - b.remaining
            sequential = sent_at >= b.observed_at
            if rise >= max(total // 20, 10) or (rise > 0 and sequential) or total != b.total:
                # The server charged the previous call before the refill and this one after it;
                # take the longest gap consistent with that so the window is never underestimated.
                if self._window_start_lo is not None:
                    gap = now - self._window_start_lo
                    self.window_s = gap if self.window_s is None else min(self.window_s, gap)
                self._window_start_lo = b.sent_at
                self._window_start = now
                for other in self._buckets.values():
                    other.probes = 0
                self._buckets[TICKETS_LIST] = self._list_bucket(total, now)
            b.total, b.remaining, b.observed_at, b.sent_at = total, remaining, now, sent_at

    def _list_bucket(self, total: int, now: float) -> _Bucket:
        limit = TICKETS_LIST_SUBLIMITS.get(total)
        if limit is None:
            limit = max(int(total * UNKNOWN_LIST_FRACTION), 1)
        return _Bucket(total=limit, remaining=limit, observed_at=now)

    def throttled(self, buckets: Iterable[str], retry_after: float) -> None:
        now = self._clock()
        with self._lock:
            for name in buckets:
                b = self._buckets.get(name)
                if b is None:
                    b = self._buckets[name] = _Bucket(total=1, remaining=0, observed_at=now)
                b.blocked_until = max(b.blocked_until, now + retry_after)


class WaitBudget:
    """How long 429s may keep one run waiting, in all: the wall-clock time during which some request
    waits out a Retry-After (parallel waits overlap, so four workers told "1 s" cost 1 s, not 4).

    `for_run` hands every client of one run the same budget (a run's steps share a process).
    """

    _runs: dict[str, WaitBudget] = {}
    _runs_lock = threading.Lock()
    # Budgets of runs long gone are dropped past this many (a test session runs hundreds in one process).
    _KEEP = 64

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = max(float(seconds), 0.0)
        self._clock = clock
        self._lock = threading.Lock()
        self.spent_s = 0.0
        self._until = 0.0

    @classmethod
    def for_run(cls, run_id: str | None, seconds: float) -> WaitBudget:
        if not run_id:
            return cls(seconds)
        with cls._runs_lock:
            budget = cls._runs.get(run_id)
            if budget is None:
                while len(cls._runs) >= cls._KEEP:
                    cls._runs.pop(next(iter(cls._runs)))
                budget = cls._runs[run_id] = cls(seconds)
            return budget

    def charge(self, wait: float) -> float | None:
        """Spend a wait of `wait` seconds starting now: the seconds it adds, or None (nothing spent)
        when that would pass the budget."""
        now = self._clock()
        with self._lock:
            added = max(now + wait - max(now, self._until), 0.0)
            if self.spent_s + added > self.seconds + 1e-9:
                return None
            self.spent_s += added
            self._until = max(self._until, now + wait)
            return added
