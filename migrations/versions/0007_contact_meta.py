"""contacts.meta: ccari's own bookkeeping apart from the routing attributes; ivr_options.action

Until now a contact's ``attributes`` held its routing attributes and, under keys starting
with ``_``, ccari's own data (``_ivr``, ``_page_url``, ``_reserved_agent``...).  Those keys
move to the new ``meta`` column without the underscore; ``attributes`` keeps only what is
routed on and shown.  An IVR option's ``_action`` (``callback``: "call me back") becomes
its ``action`` column.  The downgrade puts every key back where it was.

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_contacts = sa.table("contacts", sa.column("id", sa.String()), sa.column("attributes", sa.JSON()),
                     sa.column("meta", sa.JSON()))
_options = sa.table("ivr_options", sa.column("id", sa.Integer()),
                    sa.column("attributes", sa.JSON()), sa.column("action", sa.String()))


def split(attributes: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(routing attributes, ccari's own keys without their ``_``)."""
    attrs = dict(attributes or {})
    own = {k[1:]: attrs.pop(k) for k in list(attrs) if isinstance(k, str) and k.startswith("_")}
    return attrs, own


def join(attributes: dict[str, Any] | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The other way: the routing attributes with ccari's own keys as ``_key``."""
    return {**(attributes or {}), **{f"_{k}": v for k, v in (meta or {}).items()}}


# Rows that may hold a key starting with "_" (in the JSON text, '"_'; checked again in Python).
def _may_own(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.cast(column, sa.Text()).like('%"!_%', escape="!")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("meta", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("ivr_options") as batch:
        batch.add_column(sa.Column("action", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    moved = []
    for contact_id, attributes in conn.execute(
            sa.select(_contacts.c.id, _contacts.c.attributes)
            .where(_may_own(_contacts.c.attributes))):
        attrs, own = split(attributes)
        if own:
            moved.append({"_id": contact_id, "attributes": attrs, "meta": own})
    if moved:
        conn.execute(_contacts.update().where(_contacts.c.id == sa.bindparam("_id")), moved)
    # An option's only key of ccari's was "_action"; any other meant nothing and is dropped.
    for option_id, attributes in conn.execute(sa.select(_options.c.id, _options.c.attributes)).all():
        attrs, own = split(attributes)
        if own:
            conn.execute(_options.update().where(_options.c.id == option_id)
                         .values(attributes=attrs, action=own.get("action")))


def downgrade() -> None:
    conn = op.get_bind()
    moved = [{"_id": contact_id, "attributes": join(attributes, meta)}
             for contact_id, attributes, meta in conn.execute(
                 sa.select(_contacts.c.id, _contacts.c.attributes, _contacts.c.meta)
                 .where(sa.cast(_contacts.c.meta, sa.Text()).like('%"%')))  # not {}
             if meta]
    if moved:
        conn.execute(_contacts.update().where(_contacts.c.id == sa.bindparam("_id")), moved)
    for option_id, attributes, action in conn.execute(
            sa.select(_options.c.id, _options.c.attributes, _options.c.action)
            .where(_options.c.action.is_not(None))).all():
        conn.execute(_options.update().where(_options.c.id == option_id)
                     .values(attributes=join(attributes, {"action": action})))
    with op.batch_alter_table("ivr_options") as batch:
        batch.drop_column("action")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("meta")
