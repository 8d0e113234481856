"""The sync-state store (no Dagster import): see `store.py`."""

from .store import (
    DatabaseConfigError,
    DatabaseUnavailable,
    ItemResult,
    ItemState,
    LastSync,
    RawRecord,
    StoredEmbedding,
    SyncStateError,
    SyncStore,
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
    "SyncStateError",
    "SyncStore",
    "database_url_from_env",
]
