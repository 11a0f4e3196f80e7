"""talk now: a tenant's widget may offer a call from the page

Revision ID: 0012t
Revises: 0012f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012t"
down_revision = "0012f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenant_sites") as batch:
        batch.add_column(sa.Column("talk_now", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tenant_sites") as batch:
        batch.drop_column("talk_now")
