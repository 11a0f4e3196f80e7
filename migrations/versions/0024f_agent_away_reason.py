"""agents: why ccari made an agent not ready (a missed offer), kept across a router rebuild

Revision ID: 0024f
Revises: 0023f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024f"
down_revision = "0023f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("away_reason", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("away_reason")
