"""The predecessor's sync_logs table, exactly as the FastAPI service had it.

A database that the predecessor filled already has this table and no alembic_version:
SyncLog stamps it at this revision and upgrades from here, keeping its rows.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_logs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("item_type", sa.Text, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("item_type IN ('ticket', 'kb_article')", name="sync_logs_item_type"),
    )
    op.create_index("idx_sync_logs_collection", "sync_logs", ["collection"])
    op.create_index("idx_sync_logs_synced_at", "sync_logs", [sa.text("synced_at DESC")])


def downgrade() -> None:
    op.drop_table("sync_logs")
