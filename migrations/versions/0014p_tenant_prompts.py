"""a tenant's own prompts (uploaded audio or spoken text)

Revision ID: 0014p
Revises: 0013x
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0014p"
down_revision = "0013x"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("tenant_prompts")
