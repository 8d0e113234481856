"""Raw source records (`raw_items`), so every later step can re-run without calling Freshdesk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .database import Database
from .items import ItemType
from .schema import raw_items, utcnow


@dataclass(frozen=True)
class RawRecord:
    item_id: str
    source_updated_at: datetime
    record: dict[str, Any]
    removed: bool = False


_RECORD_COLUMNS = (raw_items.c.item_id, raw_items.c.source_updated_at, raw_items.c.record, raw_items.c.removed)


class RawRecords(Database):
    def put_raw(
        self,
        item_type: ItemType,
        records: Sequence[RawRecord],
        *,
        run_id: str | None = None,
        partition_key: str | None = None,
    ) -> None:
        """Store raw records; an older source version never overwrites a newer one."""
        if not records:
            return
        now = utcnow()
        rows = [
            {
                "item_type": item_type,
                "item_id": r.item_id,
                "source_updated_at": r.source_updated_at,
                "removed": r.removed,
                "record": r.record,
                "fetched_at": now,
                "run_id": run_id,
                "partition_key": partition_key,
            }
            for r in records
        ]
        with self._tx() as conn:
            self._upsert(conn, raw_items, rows, where=lambda ex: raw_items.c.source_updated_at <= ex.source_updated_at)

    def get_raw(self, item_type: ItemType, item_ids: Iterable[str]) -> dict[str, RawRecord]:
        query = sa.select(*_RECORD_COLUMNS).where(raw_items.c.item_type == item_type)
        return {row.item_id: RawRecord(*row) for row in self._rows_in(query, raw_items.c.item_id, item_ids)}

    def raw_versions(self, item_type: ItemType, item_ids: Iterable[str]) -> dict[str, tuple[datetime, bool]]:
        """Stored source version and removed flag per id, without loading the records."""
        query = sa.select(raw_items.c.item_id, raw_items.c.source_updated_at, raw_items.c.removed).where(
            raw_items.c.item_type == item_type
        )
        return {row.item_id: (row.source_updated_at, row.removed) for row in self._rows_in(query, raw_items.c.item_id, item_ids)}

    def iter_raw(
        self,
        item_type: ItemType,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[list[RawRecord]]:
        """Stream raw records by source version (keyset pages, so memory stays bounded)."""
        base = sa.select(*_RECORD_COLUMNS).where(raw_items.c.item_type == item_type)
        if start is not None:
            base = base.where(raw_items.c.source_updated_at >= start)
        if end is not None:
            base = base.where(raw_items.c.source_updated_at < end)
        for rows in self._pages(base, raw_items.c.source_updated_at, raw_items.c.item_id):
            yield [RawRecord(*r) for r in rows]

    def raw_ids(self, item_type: ItemType, *, removed: bool | None = None) -> set[str]:
        query = sa.select(raw_items.c.item_id).where(raw_items.c.item_type == item_type)
        if removed is not None:
            query = query.where(raw_items.c.removed == removed)
        with self._tx() as conn:
            return set(conn.execute(query).scalars())
