"""fax detection: a tenant's fax policy (fax tones on its voice numbers), detected faxes and
how each fax came (G.711 audio or T.38)

Revision ID: 0013x
Revises: 0013a
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013x"
down_revision = "0013a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fax_policies",
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("detect_on_voice", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("faxes") as batch:
        batch.add_column(sa.Column("detected", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("mode", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faxes") as batch:
        batch.drop_column("mode")
        batch.drop_column("detected")
    op.drop_table("fax_policies")
