"""Fault injection: what a flaky Freshdesk (or the proxies in front of it) does to a client.

Decisions are deterministic: one draw from `random.Random(seed)` per API request, in
arrival order, plus explicit schedules that name the n-th request or a page to fail once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

KINDS = ("429", "500", "502", "503", "slow", "timeout", "drop", "truncate", "malformed")


@dataclass(frozen=True)
class FaultConfig:
    """Rates are probabilities per API request; schedules name exact requests.

    - `schedule`: {n: kind} for the n-th API request (1-based, counted since the config was set).
    - `fail_once`: ((path, page), ...): that page of that path gets a 500 the first time only.
    - `paths`: if set, random faults only hit paths starting with one of these prefixes.
    - A 429 starts a burst: it and the next `burst_429 - 1` requests all get 429.
    - `storm_429`: {path prefix: n}: the next n requests to paths starting with that prefix get
      429 (Retry-After `retry_after_s`), whatever else arrives between them: a storm on one
      endpoint, as a real Freshdesk sends under a burst.
    - `timeout_s` is how long a "timeout" response sleeps before answering normally: set it
      above the client's read timeout. "drop" closes the connection with no response;
      "truncate" sends a well-framed 200 whose JSON is cut in half; "malformed" sends a 200
      whose body is an HTML error page.
    """

    seed: int = 0
    rate_429: float = 0.0
    burst_429: int = 3
    retry_after_s: int = 1
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_slow: float = 0.0
    slow_s: float = 0.5
    rate_timeout: float = 0.0
    timeout_s: float = 30.0
    rate_drop: float = 0.0
    rate_truncate: float = 0.0
    rate_malformed: float = 0.0
    schedule: Mapping[int, str] = field(default_factory=dict)
    storm_429: Mapping[str, int] = field(default_factory=dict)
    fail_once: tuple[tuple[str, int], ...] = ()
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [k for k in self.schedule.values() if k not in KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {KINDS}")
        if any(n < 0 for n in self.storm_429.values()):
            raise ValueError("storm_429 counts must not be negative")
        total = sum(getattr(self, f"rate_{k}") for k in KINDS)
        if total > 1.0:
            raise ValueError("fault rates add up to more than 1")

    @classmethod
    def from_dict(cls, data: Mapping) -> FaultConfig:
        """From JSON (the admin endpoint): schedule keys may be strings, fail_once lists."""
        data = dict(data)
        if "schedule" in data:
            data["schedule"] = {int(k): str(v) for k, v in data["schedule"].items()}
        if "fail_once" in data:
            data["fail_once"] = tuple((str(p), int(n)) for p, n in data["fail_once"])
        if "storm_429" in data:
            data["storm_429"] = {str(k): int(v) for k, v in data["storm_429"].items()}
        if "paths" in data:
            data["paths"] = tuple(data["paths"])
        return cls(**data)


class FaultInjector:
    """Decides, per API request, which fault (if any) it gets."""

    def __init__(self, config: FaultConfig | None) -> None:
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)
        self._n = 0
        self._burst_left = 0
        self._failed_once: set[tuple[str, int]] = set()
        self._storm_left = dict(self.config.storm_429)
        self._lock = threading.Lock()

    def decide(self, path: str, page: int) -> str | None:
        c = self.config
        with self._lock:
            self._n += 1
            draw = self._rng.random()  # always drawn, so decisions do not depend on the schedule
            if self._n in c.schedule:
                return c.schedule[self._n]
            prefix = next((p for p, left in self._storm_left.items() if left > 0 and path.startswith(p)), None)
            if prefix is not None:
                self._storm_left[prefix] -= 1
                return "429"
            key = (path, page)
            if key in c.fail_once and key not in self._failed_once:
                self._failed_once.add(key)
                return "500"
            if self._burst_left > 0:
                self._burst_left -= 1
                return "429"
            if c.paths and not path.startswith(c.paths):
                return None
            acc = 0.0
            for kind in KINDS:
                acc += getattr(c, f"rate_{kind}")
                if draw < acc:
                    if kind == "429":
                        self._burst_left = max(0, c.burst_429 - 1)
                    return kind
            return None
