"""Tables of the sync log. Alembic migrations create them; this module only describes them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both dialects (SQLite keeps no zone, so store naive UTC there)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the sync log stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The predecessor's append-only log, kept compatible and extended: one row per item per sync.
sync_logs = sa.Table(
    "sync_logs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("collection", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("item_type", sa.Text, nullable=False),
    sa.Column("synced_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("partition_key", sa.Text, nullable=True),
    sa.Column("source_updated_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("item_type IN ('ticket', 'kb_article')", name="sync_logs_item_type"),
    sa.Index("idx_sync_logs_collection", "collection"),
    sa.Index("idx_sync_logs_synced_at", sa.text("synced_at DESC")),
)

# One current row per (collection, item): what is in the vector store and why.
sync_items = sa.Table(
    "sync_items",
    metadata,
    sa.Column("collection", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("item_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("source_updated_at", UTCDateTime, nullable=True),
    sa.Column("content_hashes", sa.JSON, nullable=True),
    sa.Column("payload_hash", sa.Text, nullable=True),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("stage", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_failed_at", UTCDateTime, nullable=True),
    sa.Column("synced_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("partition_key", sa.Text, nullable=True),
    sa.CheckConstraint("status IN ('synced', 'deleted', 'failed')", name="sync_items_status"),
    sa.CheckConstraint("item_type IN ('ticket', 'kb_article')", name="sync_items_item_type"),
    sa.Index("idx_sync_items_status", "collection", "status"),
    sa.Index("idx_sync_items_synced_at", "collection", sa.text("synced_at DESC")),
)

# Raw source records, so every later step can re-run without calling Freshdesk again.
raw_items = sa.Table(
    "raw_items",
    metadata,
    sa.Column("item_type", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("source_updated_at", UTCDateTime, nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("partition_key", sa.Text, nullable=True),
    sa.Index("idx_raw_items_updated", "item_type", "source_updated_at"),
)

# Embeddings keyed by content hash (which already includes the model identity).
embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("content_hash", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("dense", sa.LargeBinary, nullable=False),
    sa.Column("sparse_indices", sa.LargeBinary, nullable=True),
    sa.Column("sparse_values", sa.LargeBinary, nullable=True),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One row per materialisation of a collection: answers "when did it last sync, which partition".
sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("collection", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("partition_start", sa.Text, nullable=True),
    sa.Column("partition_end", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("counts", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),  # refreshed while the run's process lives
    sa.Index("idx_sync_runs_collection", "collection", sa.text("finished_at DESC")),
    sa.Index("idx_sync_runs_status", "status"),
)

# Small facts one run learns for the next, by key (e.g. the Freshdesk rate window the pacer measured).
sync_meta = sa.Table(
    "sync_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The documents the embedding step built, kept for the collection step (see `documents.py`).
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("collection", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("point_id", sa.Text, nullable=False),
    sa.Column("source_updated_at", UTCDateTime, nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("texts", sa.JSON, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("content_hashes", sa.JSON, nullable=False),
    sa.Column("payload_hash", sa.Text, nullable=False),
    sa.Column("hashed_for", sa.Text, nullable=False),
    sa.Column("built_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Text, nullable=True),
    sa.Column("partition_key", sa.Text, nullable=True),
    sa.Index("idx_documents_updated", "collection", "source_updated_at"),
)

# The process running each Dagster run, written by the run itself (see `workers.py`): on its own
# machine its pid tells at once whether it lives; elsewhere its heartbeat does.
run_workers = sa.Table(
    "run_workers",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("machine", sa.Text, nullable=True),  # boot id and pid namespace: where `pid` means this process
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("process_started", sa.Float, nullable=False),  # the process's start (epoch s): tells a reused pid
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

# Which run writes each pool's stores: one row per pool, taken by an insert or a compare-and-set,
# so of two runs starting together exactly one holds it.
pool_claims = sa.Table(
    "pool_claims",
    metadata,
    sa.Column("pool", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
)
