"""edge_location: the phones' registrations at the SIP edge, kept across a Kamailio restart

Kamailio's usrloc ``location`` table (its postgres schema, table version 9) under ccari's
name, and its row in ``edge_version``.

Revision ID: 0030f
Revises: 0029f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030f"
down_revision = "0029f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edge_location",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ruid", sa.String(64), nullable=False, server_default=""),
        sa.Column("username", sa.String(64), nullable=False, server_default=""),
        sa.Column("domain", sa.String(64), nullable=True),
        sa.Column("contact", sa.String(512), nullable=False, server_default=""),
        sa.Column("received", sa.String(128), nullable=True),
        sa.Column("path", sa.String(512), nullable=True),
        sa.Column("expires", sa.DateTime(), nullable=False,
                  server_default="2030-05-28 21:32:15"),
        sa.Column("q", sa.REAL(), nullable=False, server_default="1.0"),
        sa.Column("callid", sa.String(255), nullable=False, server_default="Default-Call-ID"),
        sa.Column("cseq", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("last_modified", sa.DateTime(), nullable=False,
                  server_default="2000-01-01 00:00:01"),
        sa.Column("flags", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cflags", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        sa.Column("socket", sa.String(64), nullable=True),
        sa.Column("methods", sa.Integer(), nullable=True),
        sa.Column("instance", sa.String(255), nullable=True),
        sa.Column("reg_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("server_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("connection_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("keepalive", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("partition", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("ruid", name="edge_location_ruid_idx"),
    )
    op.create_index("edge_location_account_contact_idx", "edge_location",
                    ["username", "domain", "contact"])
    op.create_index("edge_location_expires_idx", "edge_location", ["expires"])
    op.create_index("edge_location_connection_idx", "edge_location",
                    ["server_id", "connection_id"])
    version = sa.table("edge_version", sa.column("table_name", sa.String),
                       sa.column("table_version", sa.Integer))
    op.bulk_insert(version, [{"table_name": "edge_location", "table_version": 9}])


def downgrade() -> None:
    op.execute("DELETE FROM edge_version WHERE table_name = 'edge_location'")
    op.drop_table("edge_location")
