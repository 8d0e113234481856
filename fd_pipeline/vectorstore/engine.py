"""What `VectorStore` asks of an engine: physical collections, a public name pointing at one, points.

Two engines implement it: `ClientEngine` (qdrant-client: a Qdrant server, or `:memory:` for tests
and as the stand-in for the server API) and `EdgeEngine` (qdrant-edge, the embedded default). The
store does everything engine-neutral (model identity checks, vector validation, batching); an
engine only speaks its library. Vectors arrive validated: names exist, sizes match.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fd_pipeline.vectorstore.errors import VectorStoreError
from fd_pipeline.vectorstore.records import Point, PointId


@dataclass(frozen=True)
class Layout:
    """The vectors a physical collection has (a collection's vector config never changes)."""

    dense: dict[str, int]
    sparse: frozenset[str]
    idf: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


# A point's vectors as engines take them: dense float32 arrays and Sparse, by vector name.
Vectors = Mapping[str, "np.ndarray | Sparse"]


# A point as engines take it: vectors validated and in engine form, payload JSON-ready.
RawPoint = Point["np.ndarray | Sparse"]


@dataclass(frozen=True)
class Record:
    id: PointId
    payload: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, int] = field(default_factory=dict)  # vector name -> length (dense) or nnz (sparse)


class Engine(Protocol):
    where: str

    def close(self) -> None: ...

    def collection_names(self) -> set[str]: ...

    def aliases(self) -> dict[str, str]: ...

    def create(self, name: str, layout: Layout, metadata: dict[str, Any], payload_indexes: Sequence[tuple[str, str]]) -> None: ...

    def describe(self, name: str) -> tuple[Layout, dict[str, Any]]:
        """The collection's layout and the metadata given at creation."""
        ...

    def set_alias(self, alias: str, name: str, *, current: str | None) -> None: ...

    def upsert(self, name: str, points: list[RawPoint]) -> None: ...

    def delete(self, name: str, ids: list[PointId]) -> None: ...

    def retrieve(self, name: str, ids: list[PointId]) -> dict[PointId, dict[str, Any]]: ...

    def dense_vectors(self, name: str, ids: list[PointId], using: str) -> dict[PointId, np.ndarray]:
        """The named dense vector of each id that exists and has one."""
        ...

    def count(self, name: str) -> int: ...

    def scroll(self, name: str, *, page_size: int, with_payload: bool, with_vectors: bool) -> Iterator[list[Record]]: ...

    def sample(self, name: str, limit: int) -> list[Record]: ...

    def query_dense(self, name: str, using: str, vector: np.ndarray, filters: Any, limit: int) -> list[tuple[PointId, float, dict]]: ...

    def query_hybrid(
        self, name: str, dense_using: str, vector: np.ndarray, sparse_using: str, sparse: Sparse, filters: Any,
        candidates: int, limit: int,
    ) -> list[tuple[PointId, float, dict]]: ...

    def optimize(self, name: str) -> bool: ...


@contextlib.contextmanager
def translated(error: Callable[[Exception], VectorStoreError | None]) -> Iterator[None]:
    """Run an engine library call, raising `error(exc)` for what it raises (None: let it through):
    callers see this package's errors, with the place and never the key."""
    try:
        yield
    except VectorStoreError:
        raise
    except Exception as exc:
        ours = error(exc)
        if ours is None:
            raise
        raise ours from None
