"""a tenant's after-hours route: what its numbers without their own take outside hours

Revision ID: 0016t
Revises: 0015g
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016t"
down_revision = "0015g"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("after_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("after_hours")
