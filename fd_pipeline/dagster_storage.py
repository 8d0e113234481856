"""Dagster's default SQLite instance storage, with one SQLAlchemy engine per event-log shard kept.

Dagster's `SqliteEventLogStorage` creates and disposes an engine for every connection, and an
asset event is written on two connections (its run's shard and the cross-run index). SQLAlchemy
caches compiled statements per engine, so each event pays for engine creation and for compiling
its INSERTs again: in `bench/history.py`'s profile of a 720-hour single-run backfill that was most
of the cost per partition (docs/benchmarks.md, issue 14 section). Keeping the engine per shard
(NullPool still: every use opens and closes its own connection, as before, so several processes
sharing the files behave as they did) keeps the statement cache. Same files, same schema: an
existing `DAGSTER_HOME` is used as it is, and removing the setting goes back to Dagster's class.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (same `base_dir`, same files) with the event log above."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = EngineCachingSqliteEventLogStorage(os.path.join(base_dir, "history", "runs", ""))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> SqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
