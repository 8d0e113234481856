"""What a real sync needs: per-item state, raw records, the embedding cache, run history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sync_logs") as batch:
        batch.add_column(sa.Column("status", sa.Text, nullable=True))
        batch.add_column(sa.Column("error", sa.Text, nullable=True))
        batch.add_column(sa.Column("run_id", sa.Text, nullable=True))
        batch.add_column(sa.Column("partition_key", sa.Text, nullable=True))
        batch.add_column(sa.Column("source_updated_at", TS, nullable=True))

    op.create_table(
        "sync_items",
        sa.Column("collection", sa.Text, primary_key=True),
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("item_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source_updated_at", TS, nullable=True),
        sa.Column("content_hashes", sa.JSON, nullable=True),
        sa.Column("payload_hash", sa.Text, nullable=True),
        sa.Column("model", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("stage", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_failed_at", TS, nullable=True),
        sa.Column("synced_at", TS, nullable=False),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("partition_key", sa.Text, nullable=True),
        sa.CheckConstraint("status IN ('synced', 'deleted', 'failed')", name="sync_items_status"),
        sa.CheckConstraint("item_type IN ('ticket', 'kb_article')", name="sync_items_item_type"),
    )
    op.create_index("idx_sync_items_status", "sync_items", ["collection", "status"])
    op.create_index("idx_sync_items_synced_at", "sync_items", ["collection", sa.text("synced_at DESC")])

    op.create_table(
        "raw_items",
        sa.Column("item_type", sa.Text, primary_key=True),
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("source_updated_at", TS, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("partition_key", sa.Text, nullable=True),
    )
    op.create_index("idx_raw_items_updated", "raw_items", ["item_type", "source_updated_at"])

    op.create_table(
        "embeddings",
        sa.Column("content_hash", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("dense", sa.LargeBinary, nullable=False),
        sa.Column("sparse_indices", sa.LargeBinary, nullable=True),
        sa.Column("sparse_values", sa.LargeBinary, nullable=True),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("partition_start", sa.Text, nullable=True),
        sa.Column("partition_end", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("counts", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("idx_sync_runs_collection", "sync_runs", ["collection", sa.text("finished_at DESC")])


def downgrade() -> None:
    op.drop_table("sync_runs")
    op.drop_table("embeddings")
    op.drop_table("raw_items")
    op.drop_table("sync_items")
    with op.batch_alter_table("sync_logs") as batch:
        for column in ("source_updated_at", "partition_key", "run_id", "error", "status"):
            batch.drop_column(column)
