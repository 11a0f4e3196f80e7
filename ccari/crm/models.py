"""Tables of the crm context: where each tenant's entitlements come from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base


class EntitlementSource(Base):
    __tablename__ = "entitlement_sources"
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    # None: the local record only.
    url_template: Mapped[str | None] = mapped_column(String(1000))
    timeout_s: Mapped[float] = mapped_column(Float, default=2.0)
    cache_ttl_s: Mapped[int] = mapped_column(Integer, default=300)
    # Sent as the Authorization header to the tenant's system (e.g. "Bearer ...").
    auth_header: Mapped[str | None] = mapped_column(String(500))
    routing_attribute: Mapped[str] = mapped_column(String(64), default="tier")
    # Levels that become a required routing attribute, highest first (e.g. ["gold"]).
    routing_levels: Mapped[list[Any]] = mapped_column(default=list)
