"""The project's Dagster instance class (`dagster.yaml`'s `instance_class`): Dagster's instance
with `dagster_sqlite.SqliteStorage` as its default storage, in the instance's own folder.

What that storage buys over Dagster's own SQLite storage (same files, same schema): the files
are created and migrated under a lock, so two Dagster processes opening a never-used home at
once leave one working instance; one SQLAlchemy engine is kept per event-log file; a batch of
one asset's per-hour events is one insert per file (see `fd_pipeline/dagster_sqlite.py`).
Deleting the `instance_class` block from dagster.yaml returns to Dagster's own class; a
`storage:` block (Postgres in production) replaces the default as it would Dagster's.

The storage subclasses Dagster internals, so it is the default only on the Dagster versions
they were verified on (`fd_pipeline.dagster_internals`); on any other this class gives Dagster's
own storage, and this module imports nothing private at load, so the instance still opens.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from fd_pipeline.dagster_internals import instance_defaults

STORAGE_MODULE = "fd_pipeline.dagster_sqlite"
# Names an older dagster.yaml may give with `module: fd_pipeline.dagster_storage` (a storage block).
_MOVED = ("SqliteStorage", "EngineCachingSqliteEventLogStorage")


class Instance(dg.DagsterInstance):
    """A `DagsterInstance` whose default storage is `SqliteStorage` in the instance's own folder.

    dagster.yaml cannot name that folder: `{env: DAGSTER_HOME}` fails where DAGSTER_HOME is unset
    (the temporary home of `dagster dev`, `dagster definitions validate`, `dagster asset
    materialize`), and a relative path follows the working directory. Dagster passes the folder to
    an instance class's `config_defaults`, and the instance's reference (which every process it
    starts receives) then names the folder itself.
    """

    @classmethod
    def config_schema(cls) -> dict:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Any:
        return instance_defaults(base_dir, storage=(STORAGE_MODULE, "SqliteStorage", {"base_dir": base_dir}))


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(STORAGE_MODULE), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
