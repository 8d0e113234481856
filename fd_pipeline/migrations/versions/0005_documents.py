"""Kept documents: what the embedding step built from each raw record, read by the collection step.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("collection", sa.Text, primary_key=True),
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("point_id", sa.Text, nullable=False),
        sa.Column("source_updated_at", TS, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("texts", sa.JSON, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("content_hashes", sa.JSON, nullable=False),
        sa.Column("payload_hash", sa.Text, nullable=False),
        sa.Column("hashed_for", sa.Text, nullable=False),
        sa.Column("built_at", TS, nullable=False),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("partition_key", sa.Text, nullable=True),
    )
    op.create_index("idx_documents_updated", "documents", ["collection", "source_updated_at"])
    # Ticket records stored before this revision also hold texts derived from them ("derived");
    # nothing reads those any more, and the ticket's next fetch stores it without them.


def downgrade() -> None:
    op.drop_table("documents")
