"""A tenant's web sites: the origins its widget may be embedded in (CORS, websocket Origin)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, false
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base


class TenantSite(Base):
    __tablename__ = "tenant_sites"
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    # e.g. ["https://www.acme.example", "http://127.0.0.1:8081"]
    origins: Mapped[list[Any]] = mapped_column(default=list)
    # The widget offers "talk now": the customer calls from the page (ccari.talk).
    talk_now: Mapped[bool] = mapped_column(default=False, server_default=false())
