"""join the context branches (chat, email, callbacks, cobrowse, roles)

Each bounded context added its tables in a branch of its own off 0003; from here on the
history is one line again.

Revision ID: 0005
Revises: 0004a, 0004b, 0004c, 0004d, 0004e
"""
from __future__ import annotations

revision = "0005"
down_revision = ("0004a", "0004b", "0004c", "0004d", "0004e")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
