"""media_legs: the agent legs each node counts, shared by the nodes of a cluster

Revision ID: 0027f
Revises: 0026f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027f"
down_revision = "0026f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_legs",
        sa.Column("leg_id", sa.String(100), primary_key=True),
        sa.Column("placed_by", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("kbps", sa.Float(), nullable=False),
    )
    op.create_index("ix_media_legs_placed_by", "media_legs", ["placed_by"])


def downgrade() -> None:
    op.drop_index("ix_media_legs_placed_by", table_name="media_legs")
    op.drop_table("media_legs")
