"""the cluster's agent pages: which node serves a page of which agent

Revision ID: 0018p
Revises: 0017c
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0018p"
down_revision = "0017c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_agent_pages",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer(), primary_key=True),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_agent_pages")
