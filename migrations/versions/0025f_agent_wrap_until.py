"""agents: when an agent's timed wrap-up ends, kept across a router rebuild

Revision ID: 0025f
Revises: 0024f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0025f"
down_revision = "0024f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("wrap_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("wrap_until")
