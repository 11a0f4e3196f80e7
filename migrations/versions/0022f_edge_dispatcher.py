"""the SIP edge: Kamailio's dispatcher table and its version table, under ccari's names

Kamailio (dispatcher module, ``table_name`` = edge_dispatcher; core ``version_table`` =
edge_version) reads its destinations here: Kamailio's own schema (dispatcher version 4).

Revision ID: 0022f
Revises: 0021f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022f"
down_revision = "0021f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edge_dispatcher",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("setid", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("destination", sa.String(192), nullable=False, server_default=""),
        sa.Column("flags", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attrs", sa.String(128), nullable=False, server_default=""),
        sa.Column("description", sa.String(64), nullable=False, server_default=""),
    )
    version = op.create_table(
        "edge_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("table_version", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("table_name", name="edge_version_table_name_idx"),
    )
    op.bulk_insert(version, [{"table_name": "edge_dispatcher", "table_version": 4}])


def downgrade() -> None:
    op.drop_table("edge_version")
    op.drop_table("edge_dispatcher")
