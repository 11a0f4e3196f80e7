"""recording: a tenant's recording policy and the recordings of its calls

``tenants.recording`` is the policy document checked by ``ccari.recording.policy`` (NULL:
nothing recorded); ``recordings`` holds one row per recording of a call's bridge, its file
kept in ccari's state dir with its SHA-256.

Revision ID: 0011d
Revises: 0011c
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0011d"
down_revision = "0011c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("recording", sa.JSON(), nullable=True))
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recordings_tenant", "recordings", ["tenant_id", "started_at"])
    op.create_index("ix_recordings_contact", "recordings", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_contact", table_name="recordings")
    op.drop_index("ix_recordings_tenant", table_name="recordings")
    op.drop_table("recordings")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("recording")
