"""voicemails: recorded messages, each the audio of a contact of medium voicemail

Agents who take web work (chat or email) get one voicemail slot, so that a tenant who
turns on the voicemail overflow has somebody to offer the messages to; an admin may
change it per agent afterwards.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voicemails",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_contact_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_voicemails_tenant", "voicemails", ["tenant_id", "created_at"], unique=False)
    _voicemail_slots(add=True)


def _voicemail_slots(*, add: bool) -> None:
    agents = sa.table("agents", sa.column("id", sa.Integer()), sa.column("slots", sa.JSON()))
    conn = op.get_bind()
    for agent_id, slots in conn.execute(sa.select(agents.c.id, agents.c.slots)).all():
        per_medium = dict((slots or {}).get("per_medium") or {})
        if add and "voicemail" not in per_medium and ({"chat", "email"} & per_medium.keys()):
            per_medium["voicemail"] = 1
        elif not add and "voicemail" in per_medium:
            del per_medium["voicemail"]
        else:
            continue
        conn.execute(agents.update().where(agents.c.id == agent_id)
                     .values(slots={**(slots or {}), "per_medium": per_medium}))


def downgrade() -> None:
    _voicemail_slots(add=False)
    op.drop_index("ix_voicemails_tenant", table_name="voicemails")
    op.drop_table("voicemails")
