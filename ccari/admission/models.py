"""Tables of trunk admission and usage accounting: the shared trunk pool, the calls holding a
trunk now, every decision with its inputs, and each tenant's prices (imported by
ccari.storage.all_models for Alembic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow


class TrunkPool(Base):
    """The trunk pool every tenant shares: a single row (id 1).

    Kept in the database, not the config file, so that every ccari node sees the same pool
    and an admin can resize it without a restart.  Admission also locks this row
    (``SELECT ... FOR UPDATE``) to serialise its decisions across nodes."""

    __tablename__ = "trunk_pool"
    id: Mapped[int] = mapped_column(primary_key=True)
    total_trunks: Mapped[int] = mapped_column(Integer, default=30)
    # Tunables of the shared-pool and likely-to-end rules (ccari.admission.policy.PoolPolicy).
    near_full_margin: Mapped[int] = mapped_column(Integer, default=0)
    likely_end_window_s: Mapped[float] = mapped_column(Float, default=10.0)
    likely_end_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    likely_end_max_excess: Mapped[int] = mapped_column(Integer, default=0)
    arrival_window_s: Mapped[float] = mapped_column(Float, default=900.0)
    soon_window_s: Mapped[float] = mapped_column(Float, default=30.0)
    soon_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Replaced (a random token) by every change of trunk_calls: a node whose copy of the live
    # set carries the current token need not read it again (ccari.admission.liveset).
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class TrunkCall(Base):
    """A call holding a trunk now: the live admitted set, shared by every node."""

    __tablename__ = "trunk_calls"
    __table_args__ = (
        Index("ix_trunk_calls_tenant", "tenant_id"),
        Index("ix_trunk_calls_node", "node"),
    )
    call_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the ARI channel id
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AdmissionDecision(Base):
    """Every admission decision with the inputs it was made from: why a call was refused."""

    __tablename__ = "admission_decisions"
    __table_args__ = (
        Index("ix_admission_decisions_tenant_at", "tenant_id", "at"),
        Index("ix_admission_decisions_at", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(100))
    node: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    admit: Mapped[bool]
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(48))
    permitted: Mapped[int] = mapped_column(Integer)
    outstanding: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TenantRate(Base):
    """A tenant's prices.  Amounts are exact decimals kept as text ("0.0125"): SQLite has no
    DECIMAL type (SQLAlchemy would round-trip them through float), and no float may ever touch
    a price; ``ccari.admission.repo`` converts them to ``Decimal``."""

    __tablename__ = "tenant_rates"
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    per_trunk_minute: Mapped[str] = mapped_column(String(32), default="0")
    per_agent_minute: Mapped[str] = mapped_column(String(32), default="0")
    # {"voice": "0.05", "chat": "0.02"}: price per contact by medium (decimal text).
    per_contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Contact results (states) that are not charged per contact, e.g. ["rejected"].
    uncharged_results: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
