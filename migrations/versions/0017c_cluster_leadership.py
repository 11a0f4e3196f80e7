"""the cluster's leaderships: who leads routing, since which election (the fence's epoch)

Revision ID: 0017c
Revises: 0016t
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0017c"
down_revision = "0016t"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_leadership",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_leadership")
