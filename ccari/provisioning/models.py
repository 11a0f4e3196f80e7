"""Tables of the provisioning context (imported by ccari.storage.all_models for Alembic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
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


class TenantPrompt(Base):
    """A tenant's own prompt (:mod:`ccari.provisioning.prompts`): uploaded audio or a spoken
    text, kept as the 8 kHz mono WAV Asterisk plays.  The database holds it (it survives a
    restart and follows the tenant's deletion); the PBX's copy is written from here."""

    __tablename__ = "tenant_prompts"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(8))  # "upload" or "text"
    text: Mapped[str | None] = mapped_column(Text)  # what a spoken prompt says
    seconds: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
