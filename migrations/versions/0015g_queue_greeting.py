"""a queue's greeting: one of its tenant's prompts, played once when a caller joins it

Revision ID: 0015g
Revises: 0014p
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015g"
down_revision = "0014p"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("greeting", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("greeting")
