"""The sync log: sync log, per-item state, raw records, embedding cache, run history.

Postgres through psycopg 3 when `FD_DATABASE_URL` or `DATABASE_URL` names one, else an SQLite
file in the data folder. The same code runs on both: upserts use each dialect's
`INSERT ... ON CONFLICT`, and the schema is created and upgraded by Alembic on open.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql, sqlite

from fd_pipeline.settings import data_dir

from .schema import embeddings, raw_items, sync_items, sync_logs, sync_meta, sync_runs, utcnow

log = logging.getLogger(__name__)

Status = Literal["synced", "deleted", "failed"]
ItemType = Literal["ticket", "kb_article"]
HEAD = "0004"
_CHUNK = 500
_MIGRATION_LOCK = 0x6664_7069  # "fdpi": serialises concurrent migrations on Postgres


class SyncLogError(RuntimeError):
    """Base error of the sync log."""


class DatabaseUnavailable(SyncLogError):
    """The database cannot be reached; the message names it (never its password)."""


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


@dataclass(frozen=True)
class RawRecord:
    item_id: str
    source_updated_at: datetime
    record: dict[str, Any]
    removed: bool = False


@dataclass(frozen=True)
class StoredEmbedding:
    content_hash: str
    model: str
    dense: np.ndarray = field(repr=False)
    sparse_indices: tuple[int, ...] | None = field(default=None, repr=False)
    sparse_values: tuple[float, ...] | None = field(default=None, repr=False)
    tokens: int = 0
    truncated: bool = False


@dataclass(frozen=True)
class LastSync:
    collection: str
    finished_at: datetime
    partition_start: str | None
    partition_end: str | None
    run_id: str | None
    counts: dict[str, Any] | None


class DatabaseConfigError(SyncLogError, ValueError):
    """The database URL cannot be used as written; the message names the setting, never the password."""


_URL_VARS = ("FD_DATABASE_URL", "DATABASE_URL")
_URL_EXAMPLE = "postgresql://user:password@host:5432/dbname or sqlite:///path/to/sync_state.db"


def database_url_from_env() -> str:
    for name in _URL_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return f"sqlite:///{data_dir() / 'sync_state.db'}"


def _url_source(url: str) -> str:
    """The setting a URL came from, for messages."""
    for name in _URL_VARS:
        if os.environ.get(name) == url:
            return name
    return "the sync-log database URL"


def _ended_dagster_run(instance: Any, run_id: str | None) -> str | None:
    """The final status of a Dagster run that is over, else None (in progress, unknown, no instance).
    Duck-typed on DagsterInstance so this package needs no Dagster import."""
    if instance is None or not run_id:
        return None
    try:
        run = instance.get_run_by_id(run_id)
    except Exception as exc:  # noqa: BLE001 - an unreadable instance only loses this shortcut
        log.warning("cannot read Dagster run %s: %s", run_id, exc)
        return None
    if run is None or not run.is_finished:
        return None
    return str(getattr(run.status, "value", run.status))


def _normalise_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except (ValueError, sa.exc.ArgumentError):
        # SQLAlchemy's own messages either echo nothing useful ("invalid literal for int()") or
        # nothing at all; the raw URL is never echoed, it holds the password.
        raise DatabaseConfigError(f"{_url_source(url)} is not a valid database URL: {_url_problem(url)} (expected {_URL_EXAMPLE})") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres", "sqlite"):
        raise DatabaseConfigError(
            f"{_url_source(url)} names a {parsed.get_backend_name()!r} database; only Postgres and SQLite are supported (expected {_URL_EXAMPLE})"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise DatabaseConfigError(f"{_url_source(url)} has port {parsed.port}, outside 1-65535 (expected {_URL_EXAMPLE})")
    # The project speaks psycopg 3; plain postgres URLs would pick psycopg2.
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _url_problem(url: str) -> str:
    """What is wrong with a URL SQLAlchemy cannot parse, naming no credentials."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        return "it has no scheme:// prefix"
    authority = rest.split("/", 1)[0]
    if "@" in rest and "@" not in authority:
        return "it does not parse: a '/' in the user name or password must be percent-encoded (%2F)"
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        port = hostport.partition("]")[2].lstrip(":")
    else:
        port = hostport.rpartition(":")[2] if ":" in hostport else ""
    if port and not port.isdigit():
        return f"the port {port!r} is not a number"
    if hostport.endswith(":"):
        return "the port after ':' is empty"
    return "it does not parse as scheme://user:password@host:port/database"


def describe_url(url: sa.URL) -> str:
    """A label for messages: dialect, host, port and database, never the password."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite database {url.database or ':memory:'}"
    return f"postgres database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"


class SyncLog:
    """One handle on the sync-log database; thread-safe through SQLAlchemy's pool."""

    def __init__(
        self, url: str | None = None, *, migrate: bool = True, heartbeat_s: float = 30.0, stale_after_s: float = 600.0
    ):
        # A run this process has open gets its heartbeat refreshed every heartbeat_s; a running row
        # whose heartbeat is older than stale_after_s belongs to a process that died.
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self._open_runs: set[int] = set()
        self._beat_lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._url = _normalise_url(url or database_url_from_env())
        self.label = describe_url(self._url)
        self._dialect = self._url.get_backend_name()
        if self._dialect == "sqlite":
            path = self._url.database
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.engine = sa.create_engine(self._url, connect_args={"timeout": 30})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(
                self._url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
            )
        if migrate:
            self.migrate()

    def __repr__(self) -> str:
        return f"SyncLog({self.label})"

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=5)
        self.engine.dispose()

    def __enter__(self) -> SyncLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise self._unavailable(exc) from None
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise self._unavailable(exc) from None
            raise

    def _unavailable(self, exc: sa.exc.DBAPIError) -> DatabaseUnavailable:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return DatabaseUnavailable(f"sync log: cannot use the {self.label}: {reason}")

    def _insert(self, table: sa.Table):
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest revision; returns that revision."""
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("fd_pipeline") / "migrations"))
        with self._tx() as conn:
            if self._dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None and sa.inspect(conn).has_table("sync_logs"):
                log.info("found the predecessor's sync_logs table; upgrading it in place")
                cfg.attributes["connection"] = conn
                command.stamp(cfg, "0001")
            if current != HEAD:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return MigrationContext.configure(conn).get_current_revision() or ""

    def revision(self) -> str | None:
        with self._tx() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ping(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- per-item state and the log --------------------------------------------------------

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
        ok = [r for r in results if r.status != "failed"]
        failed = [r for r in results if r.status == "failed"]
        with self._tx() as conn:
            for chunk in _chunks(ok):
                stmt = self._insert(sync_items)
                ex = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[sync_items.c.collection, sync_items.c.item_id],
                    set_={
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
                    },
                    where=_not_older(ex),
                )
                conn.execute(stmt, [self._item_row(collection, item_type, r, now, run_id, partition_key) for r in chunk])
            for chunk in _chunks(failed):
                stmt = self._insert(sync_items)
                ex = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[sync_items.c.collection, sync_items.c.item_id],
                    set_={
                        "status": "failed",
                        "source_updated_at": sa.func.coalesce(ex.source_updated_at, sync_items.c.source_updated_at),
                        "error": ex.error,
                        "stage": ex.stage,
                        "attempts": sync_items.c.attempts + 1,
                        "first_failed_at": sa.case(
                            (sync_items.c.status == "failed", sync_items.c.first_failed_at),
                            else_=ex.first_failed_at,
                        ),
                        "synced_at": ex.synced_at,
                        "run_id": ex.run_id,
                        "partition_key": ex.partition_key,
                    },
                    where=sa.or_(ex.source_updated_at.is_(None), _not_older(ex)),
                )
                rows = [self._item_row(collection, item_type, r, now, run_id, partition_key) for r in chunk]
                for row in rows:
                    row.update(attempts=1, first_failed_at=now)
                conn.execute(stmt, rows)
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

    @staticmethod
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

    def get_items(self, collection: str, item_ids: Iterable[str]) -> dict[str, ItemState]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, ItemState] = {}
        with self._tx() as conn:
            for chunk in _chunks(ids):
                rows = conn.execute(
                    sa.select(sync_items).where(sync_items.c.collection == collection, sync_items.c.item_id.in_(chunk))
                )
                out.update((row.item_id, ItemState(**row._mapping)) for row in rows)
        return out

    def items(self, collection: str, *, status: Status | None = None) -> list[ItemState]:
        query = sa.select(sync_items).where(sync_items.c.collection == collection)
        if status:
            query = query.where(sync_items.c.status == status)
        with self._tx() as conn:
            return [ItemState(**row._mapping) for row in conn.execute(query.order_by(sync_items.c.item_id))]

    def failed_items(self, collection: str | None = None, *, limit: int | None = None) -> list[ItemState]:
        query = sa.select(sync_items).where(sync_items.c.status == "failed")
        if collection:
            query = query.where(sync_items.c.collection == collection)
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

    def log_entries(self, collection: str, item_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(sync_logs)
            .where(sync_logs.c.collection == collection, sync_logs.c.item_id == item_id)
            .order_by(sync_logs.c.synced_at)
        )
        with self._tx() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- runs --------------------------------------------------------------------------------

    def start_run(
        self, collection: str, *, run_id: str | None, partition_start: str | None, partition_end: str | None,
        dagster_instance: Any = None,
    ) -> int:
        """Open a `running` row, kept alive by a heartbeat until `finish_run`; first close the rows
        of runs that died (see `close_orphaned_runs`)."""
        self.close_orphaned_runs(dagster_instance=dagster_instance)
        now = utcnow()
        with self._tx() as conn:
            run_pk = conn.execute(
                sync_runs.insert().returning(sync_runs.c.id),
                {
                    "collection": collection,
                    "run_id": run_id,
                    "partition_start": partition_start,
                    "partition_end": partition_end,
                    "status": "running",
                    "started_at": now,
                    "heartbeat_at": now,
                },
            ).scalar_one()
        with self._beat_lock:
            self._open_runs.add(run_pk)
            if self._beat_thread is None:
                self._beat_thread = threading.Thread(target=self._beat, name="sync-run-heartbeat", daemon=True)
                self._beat_thread.start()
        return run_pk

    def finish_run(self, run_pk: int, *, status: str, counts: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._beat_lock:
            self._open_runs.discard(run_pk)
        with self._tx() as conn:
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == run_pk)
                .values(status=status, finished_at=utcnow(), counts=counts, error=error)
            )

    def _beat(self) -> None:
        while not self._beat_stop.wait(self.heartbeat_s):
            with self._beat_lock:
                open_runs = list(self._open_runs)
            if not open_runs:
                continue
            try:
                with self._tx() as conn:
                    conn.execute(
                        sync_runs.update()
                        .where(sync_runs.c.id.in_(open_runs), sync_runs.c.status == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception as exc:  # noqa: BLE001 - the run itself reports a dead database
                log.warning("sync-run heartbeat not written: %s", exc)

    def close_orphaned_runs(self, *, dagster_instance: Any = None) -> list[dict[str, Any]]:
        """Mark `abandoned` the running rows whose process is gone: their Dagster run has ended
        (looked up in `dagster_instance` by the row's run_id, when given), or their heartbeat is
        older than `stale_after_s`. Rows this handle has open are never touched. Returns the rows closed."""
        now = utcnow()
        with self._beat_lock:
            ours = set(self._open_runs)
        closed = []
        for row in self.running_syncs():
            if row["id"] in ours:
                continue
            reason = None
            ended = _ended_dagster_run(dagster_instance, row["run_id"])
            if ended is not None:
                reason = f"abandoned: its Dagster run ended ({ended}) without finishing this sync"
            else:
                beat = row["heartbeat_at"] or row["started_at"]
                if (now - beat).total_seconds() > self.stale_after_s:
                    reason = f"abandoned: no heartbeat since {beat.isoformat()}; the process running it died"
            if reason is not None:
                closed.append({**row, "status": "abandoned", "error": reason})
        if closed:
            with self._tx() as conn:
                for row in closed:
                    conn.execute(
                        sync_runs.update()
                        .where(sync_runs.c.id == row["id"], sync_runs.c.status == "running")
                        .values(status="abandoned", finished_at=now, error=row["error"])
                    )
            for row in closed:
                log.warning("sync of %s (run %s, partitions %s..%s) %s", row["collection"], row["run_id"],
                            row["partition_start"], row["partition_end"], row["error"])
        return closed

    def last_syncs(self) -> dict[str, LastSync]:
        """Per collection, the newest successful run: when it finished and which partitions it covered."""
        newest = (
            sa.select(sync_runs.c.collection, sa.func.max(sync_runs.c.id).label("id"))
            .where(sync_runs.c.status == "success")
            .group_by(sync_runs.c.collection)
            .subquery()
        )
        query = sa.select(sync_runs).join(newest, sync_runs.c.id == newest.c.id)
        with self._tx() as conn:
            return {
                row.collection: LastSync(
                    collection=row.collection,
                    finished_at=row.finished_at,
                    partition_start=row.partition_start,
                    partition_end=row.partition_end,
                    run_id=row.run_id,
                    counts=row.counts,
                )
                for row in conn.execute(query)
            }

    def running_syncs(self) -> list[dict[str, Any]]:
        query = sa.select(sync_runs).where(sync_runs.c.status == "running").order_by(sync_runs.c.started_at)
        with self._tx() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- facts for the next run ---------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        """A JSON value an earlier run stored under `key`, or None."""
        with self._tx() as conn:
            return conn.execute(sa.select(sync_meta.c.value).where(sync_meta.c.key == key)).scalar_one_or_none()

    def set_meta(self, key: str, value: Any) -> None:
        stmt = self._insert(sync_meta).values(key=key, value=value, updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(
            index_elements=[sync_meta.c.key], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}
        )
        with self._tx() as conn:
            conn.execute(stmt)

    # -- raw records -------------------------------------------------------------------------

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
        with self._tx() as conn:
            for chunk in _chunks(records):
                stmt = self._insert(raw_items)
                ex = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[raw_items.c.item_type, raw_items.c.item_id],
                    set_={c: ex[c] for c in ("source_updated_at", "removed", "record", "fetched_at", "run_id", "partition_key")},
                    where=raw_items.c.source_updated_at <= ex.source_updated_at,
                )
                conn.execute(
                    stmt,
                    [
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
                        for r in chunk
                    ],
                )

    def get_raw(self, item_type: ItemType, item_ids: Iterable[str]) -> dict[str, RawRecord]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, RawRecord] = {}
        with self._tx() as conn:
            for chunk in _chunks(ids):
                rows = conn.execute(
                    sa.select(raw_items.c.item_id, raw_items.c.source_updated_at, raw_items.c.record, raw_items.c.removed)
                    .where(raw_items.c.item_type == item_type, raw_items.c.item_id.in_(chunk))
                )
                out.update((row.item_id, RawRecord(row.item_id, row.source_updated_at, row.record, row.removed)) for row in rows)
        return out

    def raw_versions(self, item_type: ItemType, item_ids: Iterable[str]) -> dict[str, tuple[datetime, bool]]:
        """Stored source version and removed flag per id, without loading the records."""
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, tuple[datetime, bool]] = {}
        with self._tx() as conn:
            for chunk in _chunks(ids):
                rows = conn.execute(
                    sa.select(raw_items.c.item_id, raw_items.c.source_updated_at, raw_items.c.removed)
                    .where(raw_items.c.item_type == item_type, raw_items.c.item_id.in_(chunk))
                )
                out.update((row.item_id, (row.source_updated_at, row.removed)) for row in rows)
        return out

    def iter_raw(
        self,
        item_type: ItemType,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        removed: bool | None = None,
        batch_size: int = _CHUNK,
    ) -> Iterator[list[RawRecord]]:
        """Stream raw records by source version (keyset pages, so memory stays bounded)."""
        base = sa.select(raw_items.c.item_id, raw_items.c.source_updated_at, raw_items.c.record, raw_items.c.removed).where(
            raw_items.c.item_type == item_type
        )
        if start is not None:
            base = base.where(raw_items.c.source_updated_at >= start)
        if end is not None:
            base = base.where(raw_items.c.source_updated_at < end)
        if removed is not None:
            base = base.where(raw_items.c.removed == removed)
        after: tuple[datetime, str] | None = None
        while True:
            query = base
            if after is not None:
                query = query.where(
                    sa.tuple_(raw_items.c.source_updated_at, raw_items.c.item_id) > sa.tuple_(*after)
                    if self._dialect == "postgresql"
                    else sa.or_(
                        raw_items.c.source_updated_at > after[0],
                        sa.and_(raw_items.c.source_updated_at == after[0], raw_items.c.item_id > after[1]),
                    )
                )
            query = query.order_by(raw_items.c.source_updated_at, raw_items.c.item_id).limit(batch_size)
            with self._tx() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield [RawRecord(r.item_id, r.source_updated_at, r.record, r.removed) for r in rows]
            after = (rows[-1].source_updated_at, rows[-1].item_id)

    def raw_ids(self, item_type: ItemType, *, removed: bool | None = None) -> set[str]:
        query = sa.select(raw_items.c.item_id).where(raw_items.c.item_type == item_type)
        if removed is not None:
            query = query.where(raw_items.c.removed == removed)
        with self._tx() as conn:
            return set(conn.execute(query).scalars())

    # -- embedding cache ---------------------------------------------------------------------

    def put_embeddings(self, items: Sequence[StoredEmbedding]) -> None:
        if not items:
            return
        now = utcnow()
        with self._tx() as conn:
            for chunk in _chunks(items):
                stmt = self._insert(embeddings).on_conflict_do_nothing(index_elements=[embeddings.c.content_hash])
                conn.execute(
                    stmt,
                    [
                        {
                            "content_hash": e.content_hash,
                            "model": e.model,
                            "dim": int(e.dense.shape[0]),
                            "dense": np.asarray(e.dense, dtype=np.float32).tobytes(),
                            "sparse_indices": None
                            if e.sparse_indices is None
                            # uint32 like Qdrant's sparse indices: hashed lexical terms use all 32 bits;
                            # bge-m3 token ids stored as int32 before read back the same.
                            else np.asarray(e.sparse_indices, dtype=np.uint32).tobytes(),
                            "sparse_values": None
                            if e.sparse_values is None
                            else np.asarray(e.sparse_values, dtype=np.float32).tobytes(),
                            "tokens": e.tokens,
                            "truncated": e.truncated,
                            "created_at": now,
                        }
                        for e in chunk
                    ],
                )

    def get_embeddings(self, hashes: Iterable[str]) -> dict[str, StoredEmbedding]:
        wanted = list(dict.fromkeys(hashes))
        out: dict[str, StoredEmbedding] = {}
        with self._tx() as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(sa.select(embeddings).where(embeddings.c.content_hash.in_(chunk))):
                    out[row.content_hash] = StoredEmbedding(
                        content_hash=row.content_hash,
                        model=row.model,
                        dense=np.frombuffer(row.dense, dtype=np.float32),
                        sparse_indices=None
                        if row.sparse_indices is None
                        else tuple(np.frombuffer(row.sparse_indices, dtype=np.uint32).tolist()),
                        sparse_values=None
                        if row.sparse_values is None
                        else tuple(np.frombuffer(row.sparse_values, dtype=np.float32).tolist()),
                        tokens=row.tokens,
                        truncated=row.truncated,
                    )
        return out

    def existing_hashes(self, hashes: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(wanted):
                found.update(
                    conn.execute(sa.select(embeddings.c.content_hash).where(embeddings.c.content_hash.in_(chunk))).scalars()
                )
        return found


def _not_older(ex) -> sa.ColumnElement[bool]:
    return sa.or_(sync_items.c.source_updated_at.is_(None), ex.source_updated_at >= sync_items.c.source_updated_at)


def _chunks(seq: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets the status command read while a run writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
