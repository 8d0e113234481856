"""Contract: `RatePacer` (docs/contracts.md "Freshdesk client", pacing) on a fake clock, no HTTP.

- Until the budget is down to the reserve, calls go at once; then the rest is spread over the
  window, and the account is never asked for more than a window holds.
- The window is learnt from refills and is never shorter than the real one; until then the pacer
  probes with doubling gaps and the last affordable call waits out the assumed window (the 60-s
  default, or a window remembered from an earlier run).
- Only a refill starts a window: a small rise from responses overtaking each other does not,
  unless the request left after the previous response arrived.
- The Tickets-List sub-limit (no header reports it) is charged locally at the plan's documented
  size and refilled with the account; a 429's Retry-After blocks exactly the buckets it names.
"""

from __future__ import annotations

import pytest

from fd_pipeline.freshdesk.ratelimit import (
    ACCOUNT,
    DEFAULT_WINDOW_S,
    MIN_RESERVE,
    PROBE_S,
    RESERVE_FRACTION,
    TICKETS_LIST,
    TICKETS_LIST_SUBLIMITS,
    RatePacer,
)


class FakeClock:
    """Time that moves only when a test (or a wait) moves it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FixedWindowAccount:
    """Freshdesk's budget on the fake clock: `total` credits per fixed window; a refused call costs nothing."""

    def __init__(self, clock: FakeClock, total: int, window_s: float, phase_s: float = 3.3) -> None:
        self.clock, self.total, self.window_s = clock, total, window_s
        self.t0 = clock.t - phase_s  # the client starts mid-window, as it would
        self.window, self.used = None, 0
        self.spent: dict[int, int] = {}
        self.refused = 0

    def call(self, cost: int) -> int:
        window = int((self.clock.t - self.t0) // self.window_s)
        if window != self.window:
            self.window, self.used = window, 0
        if self.used + cost > self.total:
            self.refused += 1
        else:
            self.used += cost
            self.spent[window] = self.spent.get(window, 0) + cost
        return self.total - self.used


def _drive(pacer: RatePacer, clock: FakeClock, account: FixedWindowAccount, calls: int, latency_s: float = 0.01,
           *, lists: bool = False):
    """Calls as the client makes them: wait what the pacer says, send, read the headers, charge the
    sub-limit no header reports. `lists`: ticket-list pages (3 credits each) on a GrowthAccount."""
    buckets, cost = ([ACCOUNT, TICKETS_LIST], 3) if lists else ([ACCOUNT], 1)
    call = account.list_call if lists else account.call
    delays = []
    for _ in range(calls):
        delay = pacer.delay_before(buckets, cost)
        if delay > 0:
            clock.sleep(delay)
            pacer.note_paced(buckets)
        delays.append(delay)
        sent = clock.t
        clock.t += latency_s
        pacer.observe(account.total, call(cost), sent)
        pacer.spend(buckets[1:], cost)
    return delays


def test_spends_down_to_the_reserve_then_spreads():
    clock = FakeClock()
    account = FixedWindowAccount(clock, total=100, window_s=10.0)
    pacer = RatePacer(clock=clock)
    delays = _drive(pacer, clock, account, 700)
    reserve = max(MIN_RESERVE, int(100 * RESERVE_FRACTION))
    # The first calls go at once until only the reserve is left ...
    assert delays[: 100 - reserve] == [0.0] * (100 - reserve) and delays[100 - reserve] > 0
    # ... and the account is never asked for more than a window holds.
    assert account.refused == 0 and max(account.spent.values()) <= 100
    # Once the window is known, the rest of each window's budget is spread over it, not burnt and
    # then waited out: every full window is used nearly to the limit with many short waits.
    full = [account.spent[w] for w in sorted(account.spent)[3:-1]]
    assert full and all(90 <= n <= 100 for n in full)
    steady = delays[400:]
    assert sum(d > 0 for d in steady) > 0.05 * len(steady) and max(steady) < 10.0


@pytest.mark.parametrize("window_s", [3.0, 10.0, 60.0])
def test_learns_the_window_from_refills_never_shorter(window_s):
    clock = FakeClock()
    account = FixedWindowAccount(clock, total=200, window_s=window_s)
    pacer = RatePacer(clock=clock)
    _drive(pacer, clock, account, 150)
    assert pacer.window_s is None  # no refill seen yet: assume the default, probe with growing gaps
    _drive(pacer, clock, account, 6 * 200)
    assert pacer.window_s is not None and window_s <= pacer.window_s <= window_s * 1.05, pacer.window_s
    assert account.refused == 0


def test_unknown_window_probes_with_doubling_gaps_then_waits_it_out():
    clock = FakeClock()
    pacer = RatePacer(clock=clock)
    pacer.observe(100, 12)  # below the reserve (15 of 100), no refill seen
    gaps = []
    for _ in range(4):
        gaps.append(pacer.delay_before([ACCOUNT], 1))
        pacer.note_paced([ACCOUNT])
    assert gaps == pytest.approx([PROBE_S, 2 * PROBE_S, 4 * PROBE_S, 8 * PROBE_S])
    clock.t += 20.0
    pacer.observe(100, 1)  # the last affordable call: wait for the window to roll over
    assert pacer.delay_before([ACCOUNT], 1) == pytest.approx(DEFAULT_WINDOW_S - 20.0)
    # A window remembered from an earlier run replaces the default.
    pacer.window_hint_s = 25.0
    assert pacer.delay_before([ACCOUNT], 1) == pytest.approx(5.0)
    clock.t += 10.0
    assert pacer.delay_before([ACCOUNT], 1) == 0.0


def test_no_budget_headers_no_pacing():
    clock = FakeClock()
    pacer = RatePacer(clock=clock)
    pacer.observe(None, None)
    pacer.observe(0, 0)
    pacer.observe(100, None)
    assert pacer.delay_before([ACCOUNT, TICKETS_LIST], 3) == 0.0 and pacer.window_s is None


def test_only_a_refill_starts_a_window():
    clock = FakeClock()
    pacer = RatePacer(clock=clock)

    def answers(*steps):
        """(seconds later, credits remaining, seconds since its request left) per response."""
        for later, remaining, sent_ago in steps:
            clock.t += later
            pacer.observe(700, remaining, sent_at=clock.t - sent_ago)

    # Two calls in flight: the later-sent one was answered first, so the next answer shows a
    # small rise that is no refill.
    answers((0.0, 600, 0.0), (1.0, 590, 0.5), (1.0, 593, 1.5), (100.0, 580, 0.1))
    assert pacer.window_s is None
    # A rise on a request sent after the previous answer arrived is a refill, however small:
    # two of them measure the window, taking the longest gap they allow.
    first_sent = clock.t - 0.1
    answers((0.5, 581, 0.1), (30.0, 570, 0.1), (30.0, 699, 0.1))
    assert pacer.window_s == pytest.approx(clock.t - first_sent)


def test_tickets_list_sublimit_is_charged_locally_and_refilled_with_the_account():
    clock = FakeClock()
    pacer = RatePacer(clock=clock)
    pacer.observe(200, 199)  # Growth: 20 list credits per window, which no header reports
    assert TICKETS_LIST_SUBLIMITS[200] == 20
    spent = 0
    while pacer.delay_before([ACCOUNT, TICKETS_LIST], 3) == 0.0:
        pacer.spend([TICKETS_LIST], 3)
        spent += 3
    # Four 3-credit pages leave 8 of 20; a fifth would cut into the reserve (MIN_RESERVE: 15 % of 20 is less).
    assert MIN_RESERVE == 6 and spent == 12
    # The account itself has plenty: other calls are not held back.
    assert pacer.delay_before([ACCOUNT], 1) == 0.0
    # A refill of the account refills the list bucket too.
    clock.t += 1.0
    pacer.observe(200, 200, sent_at=clock.t - 0.1)
    assert pacer.delay_before([ACCOUNT, TICKETS_LIST], 3) == 0.0
    # A plan outside the table gets a tenth of its limit for lists.
    other = RatePacer(clock=clock)
    other.observe(1000, 1000)
    calls = 0
    while other.delay_before([TICKETS_LIST], 1) == 0.0:
        other.spend([TICKETS_LIST], 1)
        calls += 1
    assert calls == 100 - int(100 * RESERVE_FRACTION)  # down to its reserve of 15


class GrowthAccount(FixedWindowAccount):
    """Growth plan: 200 credits per window, of which at most 20 on the Tickets-List call."""

    def __init__(self, clock: FakeClock, window_s: float) -> None:
        super().__init__(clock, total=200, window_s=window_s)
        self.list_used = 0

    def list_call(self, cost: int) -> int:
        window = int((self.clock.t - self.t0) // self.window_s)
        if window != self.window:
            self.window, self.used, self.list_used = window, 0, 0
        if self.list_used + cost > 20 or self.used + cost > self.total:
            self.refused += 1
        else:
            self.used += cost
            self.list_used += cost
        return self.total - self.used


def _list_pages(pacer: RatePacer, clock: FakeClock, account: GrowthAccount, pages: int) -> float:
    """A re-sync with nothing changed: only ticket-list pages (3 credits each), no other call between."""
    began = clock.t
    _drive(pacer, clock, account, pages, latency_s=0.05, lists=True)
    return clock.t - began


def test_list_only_run_paces_from_a_remembered_window():
    # 30 pages at 6 per 3-s window need ~5 windows. Without a remembered window the pacer cannot
    # see the window roll between list calls and waits out its 60-s default each time the
    # sub-limit runs dry: the 6-minute re-sync of issue 16.
    clock = FakeClock()
    unknown = GrowthAccount(clock, window_s=3.0)
    slow = _list_pages(RatePacer(clock=clock), clock, unknown, 30)
    clock = FakeClock()
    known = GrowthAccount(clock, window_s=3.0)
    remembered = RatePacer(clock=clock)
    remembered.window_hint_s = 3.05
    fast = _list_pages(remembered, clock, known, 30)
    assert unknown.refused == known.refused == 0
    assert slow > 120 and fast < 8 * 3.0


def test_honours_retry_after():
    clock = FakeClock()
    pacer = RatePacer(clock=clock)
    pacer.observe(700, 650)
    assert pacer.delay_before([ACCOUNT], 1) == 0.0
    pacer.throttled([ACCOUNT], 7.0)
    assert pacer.delay_before([ACCOUNT], 1) == pytest.approx(7.0)
    clock.t += 5.0
    assert pacer.delay_before([ACCOUNT], 1) == pytest.approx(2.0)
    clock.t += 2.0
    assert pacer.delay_before([ACCOUNT], 1) == 0.0
    # A 429 on the Tickets-List sub-limit blocks only list calls.
    pacer.throttled([TICKETS_LIST], 4.0)
    assert pacer.delay_before([ACCOUNT], 1) == 0.0
    assert pacer.delay_before([ACCOUNT, TICKETS_LIST], 3) == pytest.approx(4.0)
    # Before any budget was reported, a 429 still blocks what it names.
    fresh = RatePacer(clock=clock)
    fresh.throttled([ACCOUNT], 3.0)
    assert fresh.delay_before([ACCOUNT], 1) == pytest.approx(3.0)


def _ranges(calls_per_run: int, runs: int, *, resume: bool) -> tuple[float, FixedWindowAccount]:
    """`runs` fetches one after another on one account, each a fresh pacer (a new run process), 2 s
    apart; with `resume` each goes on from the window length and phase the one before it remembered."""
    clock = FakeClock()
    account = FixedWindowAccount(clock, total=200, window_s=24.0)
    started = clock.t
    remembered: tuple[float, float] | None = None
    for _ in range(runs):
        pacer = RatePacer(clock=clock, wall=lambda: clock.t + 1.7e9)  # wall time: another origin, same pace
        if remembered is not None:
            pacer.window_hint_s = remembered[0]
            if resume:
                pacer.resume(*remembered)
        _drive(pacer, clock, account, calls_per_run, latency_s=0.05)
        assert pacer.window_s is not None
        remembered = (pacer.window_s, pacer.window_began_at())
        clock.t += 2.0
    return clock.t - started, account


def test_a_run_resumes_the_window_phase_of_the_run_before():
    # Twelve ranges of 400 credits at 200 per 24-s window: ~23 windows of credits (~550 s) at the limit.
    cautious, first = _ranges(400, 12, resume=False)
    resumed, second = _ranges(400, 12, resume=True)
    assert first.refused == 0 and second.refused == 0
    assert resumed < cautious
    assert resumed <= (12 * 400 - 200) / 200 * 24.0 * 1.1  # within 10% of the limit


def test_an_old_or_future_phase_is_not_resumed():
    clock = FakeClock()
    wall = lambda: clock.t + 1.7e9  # noqa: E731
    for began in (wall() - 10 * 24.0 - 1, wall() + 5):
        pacer = RatePacer(clock=clock, wall=wall)
        pacer.resume(24.0, began)
        assert pacer.window_s is None and pacer.window_began_at() is None
    pacer = RatePacer(clock=clock, wall=wall)
    pacer.resume(24.0, wall() - 30.0)  # one window and 6 s ago: the current window began 6 s ago
    assert pacer.window_s == 24.0 and pacer.window_began_at() == pytest.approx(wall() - 6.0)
