"""callback settings: call back the callers who were waiting when their media node was lost

Revision ID: 0023f
Revises: 0022f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023f"
down_revision = "0022f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_settings") as batch:
        batch.add_column(sa.Column("after_lost_call", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("callback_settings") as batch:
        batch.drop_column("after_lost_call")
