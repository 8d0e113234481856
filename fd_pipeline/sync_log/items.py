"""The item log: one current row per (collection, item) in `sync_items`, and every outcome
appended to the predecessor's `sync_logs`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from .database import Database
from .schema import sync_items, sync_logs, utcnow

Status = Literal["synced", "deleted", "failed"]
ItemType = Literal["ticket", "kb_article"]


@dataclass(frozen=True)
class ItemResult:
    """The outcome of syncing one item, as the pipeline reports it."""

    item_id: str
    status: Status
    source_updated_at: datetime | None = None
    content_hashes: dict[str, str] | None = None
    payload_hash: str | None = None
    model: str | None = None
    error: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class ItemState:
    collection: str
    item_id: str
    item_type: str
    status: str
    source_updated_at: datetime | None
    content_hashes: dict[str, str] | None
    payload_hash: str | None
    model: str | None
    error: str | None
    stage: str | None
    attempts: int
    first_failed_at: datetime | None
    synced_at: datetime
    run_id: str | None
    partition_key: str | None


class ItemLog(Database):
    def record_results(
        self,
        collection: str,
        item_type: ItemType,
        results: Sequence[ItemResult],
        *,
        run_id: str | None = None,
        partition_key: str | None = None,
    ) -> None:
        """Write each item's current state and append the log, in one transaction.

        A result never regresses an item: a row whose source version is newer than the result's
        keeps its state (a failure without a known version keeps the stored version).
        """
        if not results:
            return
        now = utcnow()
        rows = [_item_row(collection, item_type, r, now, run_id, partition_key) for r in results]
        with self._tx() as conn:
            self._upsert(conn, sync_items, [r for r in rows if r["status"] != "failed"], update=_done_update, where=_not_older)
            failed = [{**r, "attempts": 1, "first_failed_at": now} for r in rows if r["status"] == "failed"]
            self._upsert(conn, sync_items, failed, update=_failed_update, where=_failed_not_older)
            conn.execute(
                sync_logs.insert(),
                [
                    {
                        "id": uuid.uuid4(),
                        "collection": collection,
                        "item_id": r.item_id,
                        "item_type": item_type,
                        "synced_at": now,
                        "status": r.status,
                        "error": r.error,
                        "run_id": run_id,
                        "partition_key": partition_key,
                        "source_updated_at": r.source_updated_at,
                    }
                    for r in results
                ],
            )

    def get_items(self, collection: str, item_ids: Iterable[str]) -> dict[str, ItemState]:
        query = sa.select(sync_items).where(sync_items.c.collection == collection)
        return {row.item_id: ItemState(**row._mapping) for row in self._rows_in(query, sync_items.c.item_id, item_ids)}

    def failed_items(self, collection: str, *, limit: int | None = None) -> list[ItemState]:
        """The collection's failed items, oldest failure first."""
        query = sa.select(sync_items).where(sync_items.c.collection == collection, sync_items.c.status == "failed")
        query = query.order_by(sync_items.c.first_failed_at, sync_items.c.item_id).limit(limit)
        with self._tx() as conn:
            return [ItemState(**row._mapping) for row in conn.execute(query)]

    def counts(self, collection: str) -> dict[str, int]:
        query = (
            sa.select(sync_items.c.status, sa.func.count())
            .where(sync_items.c.collection == collection)
            .group_by(sync_items.c.status)
        )
        with self._tx() as conn:
            found = dict(conn.execute(query).all())
        return {status: int(found.get(status, 0)) for status in ("synced", "deleted", "failed")}

    def synced_ids(self, collection: str) -> set[str]:
        query = sa.select(sync_items.c.item_id).where(
            sync_items.c.collection == collection, sync_items.c.status == "synced"
        )
        with self._tx() as conn:
            return set(conn.execute(query).scalars())

    def stale_model_ids(self, collection: str, model: str) -> list[str]:
        """Synced items embedded by another model: a model change re-embeds them from the raw store."""
        query = sa.select(sync_items.c.item_id).where(
            sync_items.c.collection == collection,
            sync_items.c.status == "synced",
            sa.or_(sync_items.c.model.is_(None), sync_items.c.model != model),
        )
        with self._tx() as conn:
            return list(conn.execute(query.order_by(sync_items.c.item_id)).scalars())


def _item_row(collection, item_type, r: ItemResult, now, run_id, partition_key) -> dict[str, Any]:
    return {
        "collection": collection,
        "item_id": r.item_id,
        "item_type": item_type,
        "status": r.status,
        "source_updated_at": r.source_updated_at,
        "content_hashes": r.content_hashes,
        "payload_hash": r.payload_hash,
        "model": r.model,
        "error": r.error,
        "stage": r.stage,
        "attempts": 0,
        "first_failed_at": None,
        "synced_at": now,
        "run_id": run_id,
        "partition_key": partition_key,
    }


def _done_update(ex) -> dict[str, Any]:
    return {
        "status": ex.status,
        "source_updated_at": ex.source_updated_at,
        "content_hashes": ex.content_hashes,
        "payload_hash": ex.payload_hash,
        "model": ex.model,
        "error": None,
        "stage": None,
        "attempts": 0,
        "first_failed_at": None,
        "synced_at": ex.synced_at,
        "run_id": ex.run_id,
        "partition_key": ex.partition_key,
    }


def _failed_update(ex) -> dict[str, Any]:
    """A failure keeps what was known of the item, counts the attempt and keeps the first failure's time."""
    return {
        "status": "failed",
        "source_updated_at": sa.func.coalesce(ex.source_updated_at, sync_items.c.source_updated_at),
        "error": ex.error,
        "stage": ex.stage,
        "attempts": sync_items.c.attempts + 1,
        "first_failed_at": sa.case((sync_items.c.status == "failed", sync_items.c.first_failed_at), else_=ex.first_failed_at),
        "synced_at": ex.synced_at,
        "run_id": ex.run_id,
        "partition_key": ex.partition_key,
    }


def _not_older(ex) -> sa.ColumnElement[bool]:
    return sa.or_(sync_items.c.source_updated_at.is_(None), ex.source_updated_at >= sync_items.c.source_updated_at)


def _failed_not_older(ex) -> sa.ColumnElement[bool]:
    # A failure without a known source version (an unreadable record) is always recorded.
    return sa.or_(ex.source_updated_at.is_(None), _not_older(ex))
