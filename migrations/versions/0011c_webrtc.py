"""webrtc: an agent's device, a SIP phone or the browser

Revision ID: 0011c
Revises: 0011b
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011c"
down_revision = "0011b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("device", sa.String(length=16), nullable=False,
                                   server_default="sip"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("device")
