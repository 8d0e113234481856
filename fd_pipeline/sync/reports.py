"""What each stage of a sync counts (`StepReport` and one subclass per stage), per hour of the run
and in total: the assets publish them as metadata, and their failure share decides the asset's outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

MAX_ERRORS_KEPT = 20


# Maps an item's `updated_at` (None when unknown) to the label of the hour it counts in.
HourOf = Callable[[datetime | None], str]


def _one_bucket(_at: datetime | None) -> str:
    return ""


@dataclass
class StepReport:
    """What one stage of a sync counted, per hour of the run and in total.

    Each stage declares the keys it counts (`KEYS`), which of them is its failure count (`FAILED`),
    and what its failures are a share of (`handled`), so the failure ratio has the right
    denominator by construction and an asset shows only keys that mean something for it.
    `hour_of` attributes every count to the hour of the item's `updated_at`.
    """

    KEYS: ClassVar[tuple[str, ...]] = ()
    FAILED: ClassVar[str] = ""
    SECONDS: ClassVar[tuple[str, ...]] = ()

    hour_of: HourOf = _one_bucket
    item_type: str | None = None
    items: str = "items"  # what the counted items are called in messages
    counts: Counter = field(default_factory=Counter)
    hours: dict[str, Counter] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1, *, at: datetime | None = None) -> None:
        if key not in self.KEYS:
            raise KeyError(f"{type(self).__name__} does not count {key!r} (it counts {', '.join(self.KEYS)})")
        if not n:
            return
        self.counts[key] += n
        hour = self.hour_of(at)
        bucket = self.hours.get(hour)
        if bucket is None:
            bucket = self.hours[hour] = Counter()
        bucket[key] += n

    def fail(self, item_id: str, message: str, *, at: datetime | None = None) -> None:
        self.add(self.FAILED, at=at)
        self.error(item_id, message)

    def time(self, key: str, seconds: float) -> None:
        if key not in self.SECONDS:
            raise KeyError(f"{type(self).__name__} does not time {key!r}")
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def error(self, item_id: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{item_id}: {message}")

    @property
    def failed(self) -> int:
        return self.counts[self.FAILED]

    @property
    def handled(self) -> int:
        """How many items this stage dealt with: the failures' denominator."""
        raise NotImplementedError


@dataclass
class FetchReport(StepReport):
    """Reading from Freshdesk into the raw store: every listed item once, by outcome."""

    KEYS: ClassVar[tuple[str, ...]] = ("fetched", "new", "changed", "unchanged", "removed", "failed_fetch")
    FAILED: ClassVar[str] = "failed_fetch"
    SECONDS: ClassVar[tuple[str, ...]] = ("fetch",)

    @property
    def handled(self) -> int:
        return self.counts["fetched"]


@dataclass
class TicketFetchReport(FetchReport):
    """Tickets also re-read the retry queue and read conversations of changed tickets."""

    KEYS: ClassVar[tuple[str, ...]] = (*FetchReport.KEYS, "retried", "conversation_calls")
    item_type: str | None = "ticket"
    items: str = "tickets"

    @property
    def handled(self) -> int:
        return self.counts["fetched"] + self.counts["retried"]


@dataclass
class ArticleFetchReport(FetchReport):
    item_type: str | None = "kb_article"
    items: str = "KB articles"


@dataclass
class EmbedReport(StepReport):
    """Embedding the texts of live documents: texts shared within a batch are embedded once
    (`deduplicated`), texts already in the cache are not embedded again (`cached`)."""

    KEYS: ClassVar[tuple[str, ...]] = (
        "documents", "texts", "deduplicated", "cached", "embedded", "failed_embed", "tokens", "truncated",
    )
    FAILED: ClassVar[str] = "failed_embed"
    SECONDS: ClassVar[tuple[str, ...]] = ("embed", "store")

    @property
    def handled(self) -> int:
        return self.counts["documents"]


@dataclass
class WriteReport(StepReport):
    """Writing documents to the collection: each document (and each stray point) has exactly one
    outcome among new, changed, unchanged, deleted, superseded (another run already wrote a newer
    version) and failed_write."""

    KEYS: ClassVar[tuple[str, ...]] = ("new", "changed", "unchanged", "deleted", "superseded", "failed_write", "upserted")
    FAILED: ClassVar[str] = "failed_write"
    SECONDS: ClassVar[tuple[str, ...]] = ("write", "log")

    @property
    def handled(self) -> int:
        return sum(self.counts[k] for k in ("new", "changed", "unchanged", "deleted", "superseded", "failed_write"))
