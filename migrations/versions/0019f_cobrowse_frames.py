"""co-browse frames: a customer's message too large for a notification, for mirrors on
other nodes

Revision ID: 0019f
Revises: 0018p
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0019f"
down_revision = "0018p"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cobrowse_frames",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cobrowse_frames_created", "cobrowse_frames", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_cobrowse_frames_created", table_name="cobrowse_frames")
    op.drop_table("cobrowse_frames")
