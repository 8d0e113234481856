"""The sync log (no Dagster import): see `log.py` for its parts."""

from .database import DatabaseConfigError, DatabaseUnavailable, SyncLogError
from .items import ItemResult, ItemState
from .log import SyncLog
from .raw import RawRecord
from .runs import LastSync

__all__ = [
    "DatabaseConfigError",
    "DatabaseUnavailable",
    "ItemResult",
    "ItemState",
    "LastSync",
    "RawRecord",
    "SyncLogError",
    "SyncLog",
]
