"""reports: the agents' state changes, for time per state and occupancy

Revision ID: 0012r
Revises: 0011a
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccari.storage.models import UTCDateTime

revision = "0012r"
down_revision = "0011a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_state_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_agent_state_events_tenant_at", "agent_state_events", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_agent_state_events_tenant_at", table_name="agent_state_events")
    op.drop_table("agent_state_events")
