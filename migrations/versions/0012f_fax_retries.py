"""fax retries: when a send whose line was busy is dialled again by itself

Revision ID: 0012f
Revises: 0012r
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0012f"
down_revision = "0012r"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fax_sends") as batch:
        batch.add_column(sa.Column("retry_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retries_left", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("fax_sends") as batch:
        batch.drop_column("retries_left")
        batch.drop_column("retry_at")
