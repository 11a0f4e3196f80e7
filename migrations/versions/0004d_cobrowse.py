"""co-browse sessions and settings; per-tenant entitlement sources (crm)

Revision ID: 0004d
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0004d"
down_revision = "0003"
branch_labels = ("cobrowse",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cobrowse_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("mask_selector", sa.String(length=500), nullable=False),
        sa.Column("code_ttl_s", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "entitlement_sources",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("url_template", sa.String(length=1000), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("cache_ttl_s", sa.Integer(), nullable=False),
        sa.Column("auth_header", sa.String(length=500), nullable=True),
        sa.Column("routing_attribute", sa.String(length=64), nullable=False),
        sa.Column("routing_levels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "cobrowse_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_session", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=True),
        sa.Column("page_url", sa.String(length=2000), nullable=True),
        sa.Column("created_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("linked_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cobrowse_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_cobrowse_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_cobrowse_customer", ["tenant_id", "customer_session"], unique=False)
        batch_op.create_index("ix_cobrowse_state", ["state"], unique=False)
        batch_op.create_index("ix_cobrowse_tenant_code", ["tenant_id", "code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cobrowse_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_cobrowse_tenant_code")
        batch_op.drop_index("ix_cobrowse_state")
        batch_op.drop_index("ix_cobrowse_customer")
        batch_op.drop_index("ix_cobrowse_contact")
    op.drop_table("cobrowse_sessions")
    op.drop_table("entitlement_sources")
    op.drop_table("cobrowse_settings")
