"""edge_phones: the SIP phones that register at the SIP edge, as Kamailio's auth_db reads them

Revision ID: 0026f
Revises: 0025f

A view (PostgreSQL only: the edge needs it) over the agents whose SIP phone has no fixed
contact: ``username`` and ``password`` (the digest secret Asterisk checks too).  TLS and
browser phones keep registering at their node's Asterisk and are left out.  A later
migration that changes one of those columns drops the view first and makes it again.
"""
from __future__ import annotations

from alembic import op

revision = "0026f"
down_revision = "0025f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE VIEW edge_phones AS SELECT phone_username AS username, "
        "phone_password AS password FROM agents "
        "WHERE device = 'sip' AND phone_contact IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP VIEW IF EXISTS edge_phones")
