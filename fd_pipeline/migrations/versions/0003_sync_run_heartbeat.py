"""A heartbeat on sync_runs, so a run whose process died can be told from one still working.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("idx_sync_runs_status", "sync_runs", ["status"])


def downgrade() -> None:
    op.drop_index("idx_sync_runs_status", "sync_runs")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("heartbeat_at")
