"""Tables of the recording context (imported by ccari.storage.all_models for Alembic).

A call's contact owns its recordings: one :class:`Recording` row per recording of its
bridge (``rec-<contact>-<n>``: a recording stopped and started again on demand is a new
one).  The row is saved before Asterisk starts writing (``state`` ``recording``), so a
restarted ccari finds a recording it did not see end; once Asterisk closed it, its file is
copied into ccari's state dir (``recordings/<tenant>/<name>.wav``) with its SHA-256 and
size, and the row becomes ``stored``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_tenant", "tenant_id", "started_at"),
                      Index("ix_recordings_contact", "contact_id"))
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the ARI recording name
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(64))
    # recording | stopping (the agent stopped it, its file not yet kept) | stored | lost
    state: Mapped[str] = mapped_column(String(16), default="recording")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    # The paused stretches, in seconds from the start: [[from, to], ...] (to None: paused now).
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    duration_s: Mapped[float | None] = mapped_column(Float)
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(255))  # under the state dir
