"""`SyncLog`: one handle on the sync-log database, made of its parts on one engine.

Each part keeps one kind of thing and can be read alone: `database` (URL, engine, migrations,
errors), `items` (per-item state and the append-only log), `runs` (run history, heartbeat,
facts for the next run), `raw` (raw source records), `embeddings` (the embedding cache),
`documents` (the documents the embedding step built), `workers` (each run's worker process and
which run writes each pool).
"""

from __future__ import annotations

from .documents import DocumentLog
from .embeddings import EmbeddingCache
from .items import ItemLog
from .raw import RawRecords
from .runs import RunLog
from .workers import WorkerLog


class SyncLog(ItemLog, RunLog, RawRecords, EmbeddingCache, DocumentLog, WorkerLog):
    """The sync log at an explicit URL; thread-safe through SQLAlchemy's pool.

    `SyncLog(url, setting=..., heartbeat_s=30.0, stale_after_s=600.0)`: `setting` names where the
    URL came from in error messages; the other two time the runs' heartbeat (see `runs.RunLog`).
    """
