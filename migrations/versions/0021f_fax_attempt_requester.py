"""fax attempts: who asked for each try (a resend's requester, or ccari's own retry)

The first attempt of a send recorded before this revision was asked for by whoever asked for
the send: it takes the send's ``sent_by``.  Later ones stay unknown (a resend or a retry).

Revision ID: 0021f
Revises: 0020f
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021f"
down_revision = "0020f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fax_attempts") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(32), nullable=True))
    # An attempt's id is its channel id, fxo-<send>-<n>: the first is fxo-<send>-1.
    op.execute("UPDATE fax_attempts SET requested_by = (SELECT fax_sends.sent_by FROM fax_sends"
               " WHERE fax_sends.id = fax_attempts.send_id)"
               " WHERE fax_attempts.id = 'fxo-' || fax_attempts.send_id || '-1'")


def downgrade() -> None:
    with op.batch_alter_table("fax_attempts") as batch:
        batch.drop_column("requested_by")
