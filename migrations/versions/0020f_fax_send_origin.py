"""fax sends: who asked for a fax to be sent, and the receiving machine's station id

Revision ID: 0020f
Revises: 0019f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020f"
down_revision = "0019f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fax_sends") as batch:
        batch.add_column(sa.Column("sent_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("station_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fax_sends") as batch:
        batch.drop_column("station_id")
        batch.drop_column("sent_by")
