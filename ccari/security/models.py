"""The security log's table (imported by ccari.storage.all_models for Alembic)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base


class SecurityBlock(Base):
    """The security log: a SIP source address blocked in Asterisk (PBX-wide, no tenant),
    why, from when until when, and whether an admin lifted it early."""

    __tablename__ = "security_blocks"
    __table_args__ = (Index("ix_security_blocks_address_at", "address", "at"),
                      Index("ix_security_blocks_until", "until"))
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(45))
    reason: Mapped[str] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer)
    offence: Mapped[int] = mapped_column(Integer, default=1)
    at: Mapped[dt.datetime]
    until: Mapped[dt.datetime]
    lifted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lifted_by: Mapped[str] = mapped_column(String(100), default="")
