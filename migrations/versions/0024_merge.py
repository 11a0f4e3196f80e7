"""join the edge's tables (0022f) and the lost-call callback setting (0023f)

Both were added off 0021f at the same time; from here on the history is one line again.

Revision ID: 0024
Revises: 0022f, 0023f
"""
from __future__ import annotations

revision = "0024"
down_revision = ("0022f", "0023f")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
