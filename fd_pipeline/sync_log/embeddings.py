"""The embedding cache (`embeddings`): vectors keyed by content hash, which already includes the
model identity, so an unchanged text is never embedded twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import sqlalchemy as sa

from fd_pipeline.embedding import Embedding

from .database import Database, chunks
from .schema import embeddings, utcnow


class EmbeddingCache(Database):
    def put_embeddings(self, model: str, vectors: Mapping[str, Embedding]) -> None:
        """Keep each content hash's vectors, as `model` made them; a hash already kept stays."""
        if not vectors:
            return
        now = utcnow()
        rows = [_row(h, model, e, now) for h, e in vectors.items()]
        with self._tx() as conn:
            for chunk in chunks(rows):
                conn.execute(self._insert(embeddings).on_conflict_do_nothing(index_elements=[embeddings.c.content_hash]), chunk)

    def get_embeddings(self, hashes: Iterable[str]) -> dict[str, Embedding]:
        rows = self._rows_in(sa.select(embeddings), embeddings.c.content_hash, hashes)
        return {row.content_hash: _embedding(row) for row in rows}

    def existing_hashes(self, hashes: Iterable[str]) -> set[str]:
        rows = self._rows_in(sa.select(embeddings.c.content_hash), embeddings.c.content_hash, hashes)
        return {row.content_hash for row in rows}


def _row(content_hash: str, model: str, e: Embedding, now) -> dict:
    return {
        "content_hash": content_hash,
        "model": model,
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


def _embedding(row) -> Embedding:
    return Embedding(
        dense=np.frombuffer(row.dense, dtype=np.float32),
        sparse_indices=None if row.sparse_indices is None else tuple(np.frombuffer(row.sparse_indices, dtype=np.uint32).tolist()),
        sparse_values=None if row.sparse_values is None else tuple(np.frombuffer(row.sparse_values, dtype=np.float32).tolist()),
        tokens=row.tokens,
        truncated=row.truncated,
    )
