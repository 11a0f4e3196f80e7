"""tenants.blend_hold_s: a tenant's own fair-blending hold (NULL: the node's default)

Once a call has waited this many seconds, the agents who could take it and also take
chats or e-mails get no new ones until it is placed (0: off).

Revision ID: 0010c
Revises: 0010g
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010c"
down_revision = "0010g"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("blend_hold_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("blend_hold_s")
