"""What the emulator saw and sent: the numbers tests assert a client's behaviour with."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Counters over API requests (`/api/v2/...`); admin calls are not counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # What is in flight now survives a reset (those requests still finish); the maxima start afresh.
        self.in_flight = 0
        self._in_flight_by_endpoint: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.credits = 0
            self.throttled = 0                      # every 429 sent, injected ones included
            self.by_endpoint: Counter[str] = Counter()  # "GET /api/v2/tickets/{ticket_id}" -> n
            self.by_status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()   # fault kind -> times injected
            self.conversation_calls: Counter[int] = Counter()  # ticket id -> conversation reads
            self.ticket_list_pages = 0
            self.max_in_flight = 0                  # the most API requests being answered at once
            self.max_in_flight_by_endpoint: Counter[str] = Counter()

    def started(self, endpoint: str) -> None:
        """A request is being answered (paired with `finished`): shows whether a client overlaps calls."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._in_flight_by_endpoint[endpoint] += 1
            n = self._in_flight_by_endpoint[endpoint]
            if n > self.max_in_flight_by_endpoint[endpoint]:
                self.max_in_flight_by_endpoint[endpoint] = n

    def finished(self, endpoint: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self._in_flight_by_endpoint[endpoint] -= 1

    def record(self, endpoint: str, status: int, credits: int) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[status] += 1
            self.credits += credits
            if status == 429:
                self.throttled += 1
            if endpoint == "GET /api/v2/tickets":
                self.ticket_list_pages += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def conversation_read(self, ticket_id: int) -> None:
        with self._lock:
            self.conversation_calls[ticket_id] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "credits": self.credits,
                "throttled": self.throttled,
                "ticket_list_pages": self.ticket_list_pages,
                "max_in_flight": self.max_in_flight,
                "max_in_flight_by_endpoint": dict(self.max_in_flight_by_endpoint),
                "by_endpoint": dict(self.by_endpoint),
                "by_status": {str(k): v for k, v in self.by_status.items()},
                "faults": dict(self.faults),
                "conversation_calls": {str(k): v for k, v in self.conversation_calls.items()},
            }
