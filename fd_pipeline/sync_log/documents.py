"""Kept documents: what the embedding step built from each raw record, for the collection step.

One row per (collection, item): the texts, the point payload, the hash of each text under the
model that embedded it (`hashed_for`) and the payload's hash. The embedding step writes them once per version;
the collection step diffs Qdrant against them and writes, with no parsing, hashing or model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime

import sqlalchemy as sa

from fd_pipeline.documents import Document

from .database import Database, chunks
from .schema import documents, utcnow

# The columns that hold a Document's fields carry their names.
_FIELDS = tuple(f.name for f in fields(Document))


def _point_id(stored: str) -> int | str:
    # Point ids are Freshdesk ids (ints) or uuid5 strings, which are never all digits.
    return int(stored) if stored.isdigit() else stored


def _document(row) -> Document:
    kept = {name: row._mapping[name] for name in _FIELDS}
    return Document(**{**kept, "point_id": _point_id(kept["point_id"])})


class DocumentLog(Database):
    """The kept-documents part of the sync log."""

    def put_documents(
        self, collection: str, docs: Sequence[Document], *, run_id: str | None = None, partition_key: str | None = None
    ) -> None:
        """Keep hashed documents; a document built from an older source version never replaces a newer one."""
        if not docs:
            return
        unhashed = [d.item_id for d in docs if d.payload_hash is None or d.hashed_for is None]
        if unhashed:
            raise ValueError(f"documents without hashes cannot be kept: {', '.join(unhashed[:5])}")
        now = utcnow()
        rows = [
            {**{name: getattr(d, name) for name in _FIELDS}, "point_id": str(d.point_id), "collection": collection,
             "built_at": now, "run_id": run_id, "partition_key": partition_key}
            for d in docs
        ]
        with self._tx() as conn:
            self._upsert(conn, documents, rows, where=lambda ex: documents.c.source_updated_at <= ex.source_updated_at)

    def get_documents(self, collection: str, item_ids: Iterable[str]) -> dict[str, Document]:
        query = sa.select(documents).where(documents.c.collection == collection)
        return {row.item_id: _document(row) for row in self._rows_in(query, documents.c.item_id, item_ids)}

    def iter_documents(
        self, collection: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[Document]:
        """Stream the kept documents of a collection (those of `[start, end)` by source version)
        in (source version, item id) order, a page at a time."""
        query = sa.select(documents).where(documents.c.collection == collection)
        if start is not None:
            query = query.where(documents.c.source_updated_at >= start)
        if end is not None:
            query = query.where(documents.c.source_updated_at < end)
        for page in self._pages(query, documents.c.source_updated_at, documents.c.item_id):
            yield from (_document(row) for row in page)

    def document_ids(self, collection: str) -> set[str]:
        with self._tx() as conn:
            return set(conn.execute(sa.select(documents.c.item_id).where(documents.c.collection == collection)).scalars())

    def drop_documents(self, collection: str, item_ids: Iterable[str]) -> None:
        """Forget kept documents (their records no longer build one)."""
        with self._tx() as conn:
            for chunk in chunks(list(dict.fromkeys(item_ids))):
                conn.execute(documents.delete().where(documents.c.collection == collection, documents.c.item_id.in_(chunk)))
