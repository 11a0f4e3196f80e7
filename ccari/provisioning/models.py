"""Tables of the provisioning context (imported by ccari.storage.all_models for Alembic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow


class AuditEntry(Base):
    """One provisioning change: who made it, when, and the object before and after.

    ``tenant_id`` is no foreign key: the record of a tenant's deletion outlives the tenant
    (``tenant`` keeps its slug).  Secrets never enter ``before``/``after``."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # "admin", "tenant:<slug>" (its API token) or "cli:<unix user>".
    actor: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # tenant, number, agent, queue, menu, hours...
    key: Mapped[str] = mapped_column(String(100))  # the object's name within the tenant
    action: Mapped[str] = mapped_column(String(8))  # create, update, rename, delete
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
