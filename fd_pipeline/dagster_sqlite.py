"""Dagster's default SQLite instance storage, with one SQLAlchemy engine per event-log shard kept
and batches of asset events written with one insert per shard (`store_event_batch`).

It subclasses Dagster's private SQLite storage classes, verified on the Dagster versions of
`fd_pipeline.dagster_internals.VERIFIED_VERSIONS`: `dagster_storage.Instance` makes it the
default storage only on those (on any other, Dagster's own class), so this module is imported
only there, or where a `storage:` block names it.

Dagster's `SqliteEventLogStorage` creates and disposes an engine for every connection, and an
asset event is written on two connections (its run's shard and the cross-run index). SQLAlchemy
caches compiled statements per engine, so each event pays for engine creation and for compiling
its INSERTs again: in `bench/history.py`'s profile of a 720-hour single-run backfill that was most
of the cost per partition (docs/benchmarks.md, issue 14 section). Keeping the engine per shard
(NullPool still: every use opens and closes its own connection, as before, so several processes
sharing the files behave as they did) keeps the statement cache. Same files, same schema: an
existing `DAGSTER_HOME` is used as it is, and removing the setting goes back to Dagster's class.
The project's `dagster.yaml` names `dagster_storage.Instance` as its `instance_class`: its default
storage is `SqliteStorage` in the instance's own folder, whatever that folder is (DAGSTER_HOME, or the
temporary home `dagster dev` makes when DAGSTER_HOME is unset). A `storage:` block in dagster.yaml
(Postgres in production) replaces that default as it would Dagster's.

Dagster creates the SQLite files lazily and without a lock: two processes opening a never-used
home at once can both stamp `alembic_version`, leaving two heads that break every later open.
`SqliteStorage` creates the files, and brings an existing home's schema up to the installed
Dagster, under a file lock in the home, so whichever Dagster process comes first (the webserver,
the daemon, a run worker, `dagster asset materialize`) the others find a finished instance.
"""

from __future__ import annotations

import fcntl
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool


# Run shards are touched by one run each; a long-lived daemon or webserver reads many.
_MAX_ENGINES = 32
# In the storage's folder: held while the files are created or migrated. Not the lock the
# fd-pipeline commands hold around opening the instance (commands/instance.py), which they hold
# while this one is taken: one file for both would deadlock (flock locks per open file).
LOCK_NAME = ".fd_pipeline_storage.lock"
# The Dagster version the files were last created or migrated by.
STAMP_NAME = ".fd_pipeline_storage_version"
# The Events tab of an asset merges the events of one run that share a millisecond into one row:
# the events of one batch are written with timestamps at least this far apart.
_EVENT_SPACING_S = 0.001
# How often a step waiting for a pool's slot asks again. Dagster backs off from 1 s by 10% per try
# up to 15 s, so a step that waited a minute for the fetch slot starts ~5 s after it frees: once per
# range of a backfill, on the first sync's critical path.
BLOCKED_CLAIM_RECHECK_S = 1.0


class EngineCachingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose engines (and so their compiled statements) outlive a connection."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Any] = OrderedDict()
        self._last_stamp: OrderedDict[tuple, float] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Any:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            while len(self._engines) > _MAX_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None) -> Any:
        """Dagster's claim; a blocked one is asked again every BLOCKED_CLAIM_RECHECK_S seconds
        (the claim status's `sleep_interval`, which Dagster's executor honours over its back-off)."""
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        if not status.is_claimed and status.sleep_interval is None:
            status = status.with_sleep_interval(BLOCKED_CLAIM_RECHECK_S)
        return status

    def store_event_batch(self, events: Sequence[Any]) -> None:
        """A batch of one run's materialisations (observations, planned materialisations) of one asset
        in two transactions.

        Dagster hands a step's per-partition asset events over in batches when
        DAGSTER_EVENT_BATCH_SIZE is set, but its SQLite storage stores them one by one: each event
        is two inserts on two connections plus the asset's row, three commits per hour per asset.
        Here a batch is one multi-row insert in the run's shard and one in the index shard, with the
        events' tags and the asset's latest event, as dagster-postgres does it. Anything else goes
        event by event, as before.
        """
        if not _one_asset_batch(events):
            super().store_event_batch(events)
            return
        events = self._spaced(events)
        # The same rows go to both files: each event is serialised once.
        insert = self.prepare_insert_event_batch(events)
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(insert)
        with self.index_transaction() as conn:
            inserted = conn.execute(insert.returning(SqlEventLogStorageTable.c.id))
            # Ids are assigned in VALUES order; RETURNING's row order is not promised, so sort.
            event_ids = sorted(row[0] for row in inserted)
            self._store_asset_event_tags(conn, events, event_ids)
            self._store_asset_event(conn, events[-1], event_ids[-1])

    def _update_asset_check_evaluation(self, event: Any, event_id: int | None) -> None:
        """One history row per check per run, where Dagster 1.13 leaves one *Skipped* row per hour.

        A run of a range of hours stores its partitions; Dagster then plans each check of the run
        once per hour of the range (a PLANNED row each) even when the check has no partitions, and
        the check's one result, which has no partition, matches none of them: they show as Skipped
        in the check's history. The result stands for the whole run, so the per-hour plans of that
        check in that run are dropped before it is stored (and it becomes the run's one row).
        """
        evaluation = event.get_dagster_event().event_specific_data
        if evaluation.partition is None and event.run_id:
            table = AssetCheckExecutionsTable.c
            with self.index_connection() as conn:
                conn.execute(AssetCheckExecutionsTable.delete().where(
                    table.asset_key == evaluation.asset_key.to_string(),
                    table.check_name == evaluation.check_name,
                    table.run_id == event.run_id,
                    table.partition.is_not(None),
                    table.execution_status == AssetCheckExecutionRecordStatus.PLANNED.value,
                ))
        super()._update_asset_check_evaluation(event, event_id)

    def _spaced(self, events: Sequence[Any]) -> list[Any]:
        """The batch with each event at least a millisecond after the one before, this batch's and
        the previous batch's of the same run and asset (a batch of a thousand hours is built in
        well under a second, so their own timestamps share a few milliseconds)."""
        key = (events[0].run_id, events[0].get_dagster_event().asset_key, events[0].dagster_event_type)
        with self._engines_lock:
            last = self._last_stamp.pop(key, 0.0)
            spaced = []
            for event in events:
                stamp = max(event.timestamp, last + _EVENT_SPACING_S)
                spaced.append(event if stamp == event.timestamp else event._replace(timestamp=stamp))
                last = stamp
            self._last_stamp[key] = last
            while len(self._last_stamp) > _MAX_ENGINES:
                self._last_stamp.popitem(last=False)
        return spaced

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _one_asset_batch(events: Sequence[Any]) -> bool:
    if len(events) < 2 or not all(e.is_dagster_event for e in events):
        return False
    kinds = {e.dagster_event_type for e in events}
    return (
        kinds in ({dg.DagsterEventType.ASSET_MATERIALIZATION}, {dg.DagsterEventType.ASSET_OBSERVATION},
                  {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
        and len({e.run_id for e in events}) == 1
        and len({e.get_dagster_event().asset_key for e in events}) == 1
    )


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (same `base_dir`, same files) with the event log above,
    created and migrated under a lock."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        os.makedirs(base_dir, exist_ok=True)
        with _locked(os.path.join(base_dir, LOCK_NAME)):
            existed = os.path.exists(os.path.join(base_dir, "history", "runs.db"))
            super().__init__(base_dir, inst_data)
            self._event_log_storage = EngineCachingSqliteEventLogStorage(os.path.join(base_dir, "history", "runs", ""))
            stamp = os.path.join(base_dir, STAMP_NAME)
            if _read(stamp) != dg.__version__:
                if existed:
                    # The schema a newer Dagster expects (what `dagster instance migrate` does to
                    # the files); data migrations stay with `dagster instance migrate`. The event
                    # log prints its progress.
                    with redirect_stdout(io.StringIO()):
                        self._run_storage.upgrade()
                        self._event_log_storage.upgrade()
                        self._schedule_storage.upgrade()
                _write_atomically(stamp, dg.__version__)

    @classmethod
    def config_type(cls) -> Any:
        # Optional: `Instance` passes the instance's folder; a dagster.yaml of an earlier version
        # of the project names it as `{env: DAGSTER_HOME}`.
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> SqliteStorage:
        base_dir = config_value.get("base_dir")
        if not base_dir:
            raise dg.DagsterInvariantViolationError(
                "fd_pipeline.dagster_storage.SqliteStorage needs a base_dir: name fd_pipeline.dagster_storage.Instance as "
                "the instance_class in dagster.yaml (it passes the instance's folder) instead of a storage block")
        return cls.from_local(inst_data=inst_data, base_dir=base_dir)


@contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
