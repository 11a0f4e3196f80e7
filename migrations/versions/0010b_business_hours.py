"""business hours: a tenant's calendar, a number's own calendar and its after-hours route

Calendars and routes are JSON documents checked by ``ccari.provisioning.hours`` before they
are saved; NULL means none (a tenant without hours is never after hours; a number without
its own calendar follows its tenant's; without a route it gets the announcement).

Revision ID: 0010b
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010b"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("hours", sa.JSON(), nullable=True))
    with op.batch_alter_table("numbers") as batch:
        batch.add_column(sa.Column("hours", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("after_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("after_hours")
        batch.drop_column("hours")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("hours")
