"""agents: her pages went with a ccari node that died, kept for the next routing leader

Revision ID: 0029f
Revises: 0028f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029f"
down_revision = "0028f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("page_lost", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("page_lost")
