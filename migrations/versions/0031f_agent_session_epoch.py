"""agents.session_epoch: an agent's page sessions end when she logs out or her password
changes (the signed cookie carries the epoch it was issued in)

Revision ID: 0031f
Revises: 0030f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031f"
down_revision = "0030f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("session_epoch")
