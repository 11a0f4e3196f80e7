"""Tables of the voicemail context (imported by ccari.storage.all_models for Alembic).

A voicemail is a contact of medium ``voicemail`` (queued, offered to an agent's page, accepted,
completed like an email) plus one :class:`Voicemail` row holding the recording.  The audio is
kept in the database, not on the Asterisk host, so every ccari node can serve it and losing
an Asterisk node loses no message.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow


class Voicemail(Base):
    __tablename__ = "voicemails"
    __table_args__ = (Index("ix_voicemails_tenant", "tenant_id", "created_at"),)
    # The voicemail contact's id (one message per contact).
    id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The call that left it (its contact ends as completed / voicemail-left).
    call_contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # Why the caller was offered voicemail, e.g. the admission's "tenant-limit-reached".
    reason: Mapped[str] = mapped_column(String(32))
    duration_s: Mapped[float] = mapped_column(Float)
    content_type: Mapped[str] = mapped_column(String(64), default="audio/wav")
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
