"""Tables of the fax context (imported by ccari.storage.all_models for Alembic).

A received fax is one :class:`Fax` row, saved as ``receiving`` when the call arrives (its
channel is known to ccari before Asterisk answers), then settled once Asterisk reports
res_fax's result: ``received``, ``partial`` (the sender stopped after some pages) or
``failed``.  A fax with pages becomes a contact of medium ``fax`` (queued for an agent);
one without is a contact ended as ``failed`` so that the tenant's contact log tells it.
The row's id is that contact's id.  The TIFF and its PDF live under the state directory
(``ccari.fax.store``); the row keeps their checksums.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, new_id, utcnow


class Fax(Base):
    __tablename__ = "faxes"
    __table_args__ = (Index("ix_faxes_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The contact, once the fax is settled (its id is the fax's id).
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    number_id: Mapped[int | None] = mapped_column(ForeignKey("numbers.id", ondelete="SET NULL"))
    channel_id: Mapped[str] = mapped_column(String(100), unique=True)
    # receiving -> received | partial | failed
    status: Mapped[str] = mapped_column(String(16), default="receiving")
    sender_number: Mapped[str | None] = mapped_column(String(64))
    station_id: Mapped[str | None] = mapped_column(String(64))  # the sender's T.30 ident
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # Asterisk's reason (FAXERROR, e.g. HANGUP) and its words (FAXSTATUSSTRING).
    error: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(200))
    tiff_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[dt.datetime | None]
    # Called a voice number and was found by its fax tones (not dialled to the fax number).
    # How the pages came: "audio" (G.711) or "t38" (res_fax's FAXMODE); None: no session.
    mode: Mapped[str | None] = mapped_column(String(8))
    detected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FaxPolicy(Base):
    """A tenant's fax settings (no row: the defaults)."""

    __tablename__ = "fax_policies"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    # Listen for fax tones on the tenant's voice numbers (off by default).
    detect_on_voice: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())


class FaxSend(Base):
    """A document a tenant sends to one number; each try is a :class:`FaxAttempt`."""

    __tablename__ = "fax_sends"
    __table_args__ = (Index("ix_fax_sends_tenant", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    to_number: Mapped[str] = mapped_column(String(32))  # E.164 digits, no '+'
    pages: Mapped[int] = mapped_column(Integer)
    # sending -> sent | failed (the last attempt's outcome), or retrying (the line was busy:
    # dialled again by itself at retry_at) -> sending
    status: Mapped[str] = mapped_column(String(16), default="sending")
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retry_at: Mapped[dt.datetime | None]
    # Automatic retries this send may still have (set on each send or resend request).
    retries_left: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who asked for it (:data:`ccari.fax.sending.SentBy`); None: sent before it was recorded.
    sent_by: Mapped[str | None] = mapped_column(String(32))
    # The receiving machine's T.30 ident, as the latest attempt that reached it reported it.
    station_id: Mapped[str | None] = mapped_column(String(64))


class FaxAttempt(Base):
    """One try, committed before it is dialled: its id is the ARI channel id
    (``fxo-<send>-<n>``), so a restart or a lost connection never dials it twice."""

    __tablename__ = "fax_attempts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    send_id: Mapped[str] = mapped_column(ForeignKey("fax_sends.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # dialing -> sending -> sent | failed
    status: Mapped[str] = mapped_column(String(16), default="dialing")
    pages: Mapped[int] = mapped_column(Integer, default=0)  # pages the remote took
    error: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    # Who asked for this try (:data:`ccari.fax.sending.RequestedBy`): the first one's is the
    # send's ``sent_by``, a resend's the token of the resend request, ``retry`` one ccari
    # dialled again by itself; None: made before it was recorded.
    requested_by: Mapped[str | None] = mapped_column(String(32))
