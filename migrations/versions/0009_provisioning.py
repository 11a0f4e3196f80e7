"""provisioning: the audit log, IVR sub-menus, menu names unique per tenant

Every provisioning change (API or ``ccari admin``) is recorded in ``audit_log`` with who,
when and the object before and after.  An IVR option may lead to a sub-menu of its tenant
(``ivr_options.submenu_id``); menus are named once per tenant (duplicates, which nothing
could create so far, get their id appended first).

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ccari.storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ccari.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant_id", "at"], unique=False)
    _unique_menu_names()
    with op.batch_alter_table("ivr_menus") as batch:
        batch.create_unique_constraint("uq_ivr_menus_tenant_id_name", ["tenant_id", "name"])
    with op.batch_alter_table("ivr_options") as batch:
        batch.add_column(sa.Column("submenu_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ivr_options_submenu_id", "ivr_menus", ["submenu_id"], ["id"])


def _unique_menu_names() -> None:
    menus = sa.table("ivr_menus", sa.column("id", sa.Integer()),
                     sa.column("tenant_id", sa.Integer()), sa.column("name", sa.String()))
    conn = op.get_bind()
    seen: set[tuple[int, str]] = set()
    for menu_id, tenant_id, name in conn.execute(
            sa.select(menus.c.id, menus.c.tenant_id, menus.c.name).order_by(menus.c.id)).all():
        if (tenant_id, name) in seen:
            conn.execute(menus.update().where(menus.c.id == menu_id)
                         .values(name=f"{name[:90]}-{menu_id}"))
        seen.add((tenant_id, name))


def downgrade() -> None:
    with op.batch_alter_table("ivr_options") as batch:
        batch.drop_constraint("fk_ivr_options_submenu_id", type_="foreignkey")
        batch.drop_column("submenu_id")
    with op.batch_alter_table("ivr_menus") as batch:
        batch.drop_constraint("uq_ivr_menus_tenant_id_name", type_="unique")
    op.drop_index("ix_audit_log_tenant_at", table_name="audit_log")
    op.drop_table("audit_log")
