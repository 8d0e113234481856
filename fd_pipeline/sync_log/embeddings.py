"""The embedding cache (`embeddings`): vectors keyed by content hash, which already includes the
model identity, so an unchanged text is never embedded twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from .database import Database, chunks
from .schema import embeddings, utcnow


@dataclass(frozen=True)
class StoredEmbedding:
    content_hash: str
    model: str
    dense: np.ndarray = field(repr=False)
    sparse_indices: tuple[int, ...] | None = field(default=None, repr=False)
    sparse_values: tuple[float, ...] | None = field(default=None, repr=False)
    tokens: int = 0
    truncated: bool = False


class EmbeddingCache(Database):
    def put_embeddings(self, items: Sequence[StoredEmbedding]) -> None:
        if not items:
            return
        now = utcnow()
        with self._tx() as conn:
            for chunk in chunks(items):
                stmt = self._insert(embeddings).on_conflict_do_nothing(index_elements=[embeddings.c.content_hash])
                conn.execute(stmt, [_row(e, now) for e in chunk])

    def get_embeddings(self, hashes: Iterable[str]) -> dict[str, StoredEmbedding]:
        rows = self._rows_in(sa.select(embeddings), embeddings.c.content_hash, hashes)
        return {row.content_hash: _embedding(row) for row in rows}

    def existing_hashes(self, hashes: Iterable[str]) -> set[str]:
        rows = self._rows_in(sa.select(embeddings.c.content_hash), embeddings.c.content_hash, hashes)
        return {row.content_hash for row in rows}


def _row(e: StoredEmbedding, now) -> dict:
    return {
        "content_hash": e.content_hash,
        "model": e.model,
        "dim": int(e.dense.shape[0]),
        "dense": np.asarray(e.dense, dtype=np.float32).tobytes(),
        # uint32 like Qdrant's sparse indices: hashed lexical terms use all 32 bits; bge-m3 token
        # ids stored as int32 before read back the same.
        "sparse_indices": None if e.sparse_indices is None else np.asarray(e.sparse_indices, dtype=np.uint32).tobytes(),
        "sparse_values": None if e.sparse_values is None else np.asarray(e.sparse_values, dtype=np.float32).tobytes(),
        "tokens": e.tokens,
        "truncated": e.truncated,
        "created_at": now,
    }


def _embedding(row) -> StoredEmbedding:
    return StoredEmbedding(
        content_hash=row.content_hash,
        model=row.model,
        dense=np.frombuffer(row.dense, dtype=np.float32),
        sparse_indices=None if row.sparse_indices is None else tuple(np.frombuffer(row.sparse_indices, dtype=np.uint32).tolist()),
        sparse_values=None if row.sparse_values is None else tuple(np.frombuffer(row.sparse_values, dtype=np.float32).tolist()),
        tokens=row.tokens,
        truncated=row.truncated,
    )
