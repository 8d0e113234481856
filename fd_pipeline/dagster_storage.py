"""Dagster's default SQLite instance storage, with one SQLAlchemy engine per event-log shard kept
and batches of asset events written with one insert per shard (`store_event_batch`).

Dagster's `SqliteEventLogStorage` creates and disposes an engine for every connection, and an
asset event is written on two connections (its run's shard and the cross-run index). SQLAlchemy
caches compiled statements per engine, so each event pays for engine creation and for compiling
its INSERTs again: in `bench/history.py`'s profile of a 720-hour single-run backfill that was most
of the cost per partition (docs/benchmarks.md, issue 14 section). Keeping the engine per shard
(NullPool still: every use opens and closes its own connection, as before, so several processes
sharing the files behave as they did) keeps the statement cache. Same files, same schema: an
existing `DAGSTER_HOME` is used as it is, and removing the setting goes back to Dagster's class.
The project's `dagster.yaml` names it:

    storage:
      custom:
        module: fd_pipeline.dagster_storage
        class: SqliteStorage
        config:
          base_dir: {env: DAGSTER_HOME}
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

# Run shards are touched by one run each; a long-lived daemon or webserver reads many.
_MAX_ENGINES = 32


class EngineCachingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose engines (and so their compiled statements) outlive a connection."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Any] = OrderedDict()
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
        kinds in ({DagsterEventType.ASSET_MATERIALIZATION}, {DagsterEventType.ASSET_OBSERVATION},
                  {DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
        and len({e.run_id for e in events}) == 1
        and len({e.get_dagster_event().asset_key for e in events}) == 1
    )


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (same `base_dir`, same files) with the event log above."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = EngineCachingSqliteEventLogStorage(os.path.join(base_dir, "history", "runs", ""))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> SqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
