"""fax: a number's purpose (voice or fax), the received faxes, the faxes sent and their attempts

Revision ID: 0011a
Revises: 0011d
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0011a"
down_revision = "0011d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        batch.add_column(sa.Column("purpose", sa.String(8), nullable=False, server_default="voice"))
    op.create_table(
        "faxes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("number_id", sa.Integer, sa.ForeignKey("numbers.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("channel_id", sa.String(100), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sender_number", sa.String(64), nullable=True),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.Column("tiff_sha256", sa.String(64), nullable=True),
        sa.Column("pdf_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_faxes_tenant", "faxes", ["tenant_id", "created_at"])
    op.create_table(
        "fax_sends",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_fax_sends_tenant", "fax_sends", ["tenant_id", "created_at"])
    op.create_table(
        "fax_attempts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("send_id", sa.String(32), sa.ForeignKey("fax_sends.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("error", sa.String(64), nullable=True),
        sa.Column("started_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("fax_attempts")
    op.drop_index("ix_fax_sends_tenant", table_name="fax_sends")
    op.drop_table("fax_sends")
    op.drop_index("ix_faxes_tenant", table_name="faxes")
    op.drop_table("faxes")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("purpose")
