"""The sync log (no Dagster import): see `store.py`."""

from .store import (
    DatabaseConfigError,
    DatabaseUnavailable,
    ItemResult,
    ItemState,
    LastSync,
    RawRecord,
    StoredEmbedding,
    SyncLogError,
    SyncLog,
    database_url_from_env,
)

__all__ = [
    "DatabaseConfigError",
    "DatabaseUnavailable",
    "ItemResult",
    "ItemState",
    "LastSync",
    "RawRecord",
    "StoredEmbedding",
    "SyncLogError",
    "SyncLog",
    "database_url_from_env",
]
