"""`SyncLog`: one handle on the sync-log database, made of its parts on one engine.

Each part keeps one kind of thing and can be read alone: `database` (URL, engine, migrations,
errors), `items` (per-item state and the append-only log), `runs` (run history, heartbeat,
facts for the next run), `raw` (raw source records), `embeddings` (the embedding cache).
"""

from __future__ import annotations

import os
from typing import Any

from fd_pipeline.settings import data_dir

from .embeddings import EmbeddingCache
from .items import ItemLog
from .raw import RawRecords
from .runs import RunLog


class SyncLog(ItemLog, RunLog, RawRecords, EmbeddingCache):
    """The sync log; thread-safe through SQLAlchemy's pool. Options: `setting` (what names the URL
    in messages), `migrate` (upgrade the schema on open), `heartbeat_s`, `stale_after_s` (runs)."""

    def __init__(self, url: str | None = None, **options: Any):
        if not url:  # until every caller passes the URL its resource resolved (issue 15)
            url, options["setting"] = _url_from_env()
        super().__init__(url, **options)


def _url_from_env() -> tuple[str, str]:
    for name in ("FD_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(name):
            return os.environ[name], name
    return f"sqlite:///{data_dir() / 'sync_state.db'}", "the sync-log database URL"
