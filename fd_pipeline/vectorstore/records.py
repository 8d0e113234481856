"""Records the vector store speaks: collection specs, points, hits and filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from fd_pipeline.vectorstore.errors import UnknownAspect

PointId = int | str


@dataclass(frozen=True)
class CollectionSpec:
    """A public collection name (an alias in Qdrant), the aspects each point may carry, and the
    payload fields searches filter on (indexed by qdrant-edge and a server; qdrant-client in
    memory ignores them). Each domain declares its own (e.g. `tickets/collection.py`)."""

    name: str
    aspects: tuple[str, ...]
    payload_indexes: tuple[tuple[str, str], ...] = ()

    def dense_name(self, aspect: str) -> str:
        self.check_aspect(aspect)
        return f"{aspect}_vec"

    def sparse_name(self, aspect: str) -> str:
        self.check_aspect(aspect)
        return f"{aspect}_sparse"

    def check_aspect(self, aspect: str) -> None:
        if aspect not in self.aspects:
            raise UnknownAspect(f"{self.name} has no aspect {aspect!r}; expected one of {', '.join(self.aspects)}")


V = TypeVar("V")


@dataclass(frozen=True)
class Point(Generic[V]):
    """One ticket or article: its id (Freshdesk int id or UUID string), the vectors it has now, its payload.

    Aspects missing from `vectors` are simply absent from the stored point (a ticket without a
    resolution yet). Datetimes in the payload are stored as ISO-8601 strings. Callers hand the
    store `Point[Embedding]`; the store hands engines the same point with vectors in their form.
    """

    id: PointId
    vectors: Mapping[str, V]
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: PointId
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """The payload filters searches offer. All given conditions must hold.

    `status` matches one value or any of several; `tags` matches points carrying any of them;
    the datetime bounds are inclusive below (`gte`) and exclusive above (`lt`).
    """

    status: int | str | Sequence[int | str] | None = None
    tags: Sequence[str] | None = None
    language: str | Sequence[str] | None = None
    folder_id: int | Sequence[int] | None = None
    category_id: int | Sequence[int] | None = None
    updated_gte: datetime | None = None
    updated_lt: datetime | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
