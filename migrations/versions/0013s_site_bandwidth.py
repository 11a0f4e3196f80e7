"""sites: a site's WAN capacity (kbit/s per direction; NULL: unlimited)

Revision ID: 0013s
Revises: 0012t
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013s"
down_revision = "0012t"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("wan_kbps", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("wan_kbps")
