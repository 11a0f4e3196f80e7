"""trunk_pool.generation: a token every change of the live admitted set replaces

Each node keeps a copy of the live admitted set (``trunk_calls``) and reads the rows again
only when the token is not the one its own last change wrote: an admission decision then
reads one row instead of every call in progress.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trunk_pool") as batch:
        batch.add_column(sa.Column("generation", sa.BigInteger(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("trunk_pool") as batch:
        batch.drop_column("generation")
