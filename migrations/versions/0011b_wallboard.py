"""wallboard: a tenant's service level threshold; contact events found by time

Revision ID: 0011b
Revises: 0010c
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011b"
down_revision = "0010c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("service_level_s", sa.Float(), nullable=True))
    op.create_index("ix_contact_events_at", "contact_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_contact_events_at", table_name="contact_events")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("service_level_s")
