"""media_nodes: the cluster's Asterisk nodes an agent leg may go out from

Revision ID: 0028f
Revises: 0027f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028f"
down_revision = "0027f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_nodes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("sip_uri", sa.String(192), nullable=False),
        sa.Column("peer_key", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_nodes")
