"""agent roles (supervisors), contacts' not-before time

Revision ID: 0004e
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0004e"
down_revision = "0003"
branch_labels = ("roles",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="agent"))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("not_before", ccari.storage.models.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("role")
