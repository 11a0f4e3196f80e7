"""security: the log of SIP source addresses blocked in Asterisk

Revision ID: 0010g
Revises: 0010b
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0010g"
down_revision = "0010b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = ccari.storage.models.UTCDateTime(timezone=True)
    op.create_table(
        "security_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("offence", sa.Integer(), nullable=False),
        sa.Column("at", when, nullable=False),
        sa.Column("until", when, nullable=False),
        sa.Column("lifted_at", when, nullable=True),
        sa.Column("lifted_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_security_blocks_address_at", "security_blocks", ["address", "at"])
    op.create_index("ix_security_blocks_until", "security_blocks", ["until"])


def downgrade() -> None:
    op.drop_index("ix_security_blocks_until", table_name="security_blocks")
    op.drop_index("ix_security_blocks_address_at", table_name="security_blocks")
    op.drop_table("security_blocks")
