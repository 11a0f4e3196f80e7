"""Tables of the callbacks context (imported by ccari.storage.all_models for Alembic).

A callback is a contact of medium ``callback`` plus one :class:`Callback` row (who to call,
when, how, how often) and one :class:`CallbackAttempt` row per call placed to the customer.
The attempt's id is the ARI channel id of that call (``cb-<callback id>-<n>``): it is
committed before the originate is sent and never sent twice, so a restarted ccari either
finds the channel in Asterisk (and adopts it) or closes the attempt and places attempt n+1.
:class:`CallbackSettings` holds each tenant's choices (mode, retries, allowed destinations).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, new_id, utcnow

MODES = ("agent_first", "customer_first")
SOURCES = ("web", "ivr", "api", "overflow", "lost")
# overflow: offered when over the trunk limit; lost: the waiting call was lost with its
# media node (its Asterisk died under it)
# pending: waiting for its next attempt; queued: agent first, waiting for an agent;
# dialing: an attempt is in flight; answered: the customer is on the line (the prompt);
# done: handed to an agent's call; failed: no more tries or the window closed; cancelled.
STATUSES = ("pending", "queued", "dialing", "answered", "done", "failed", "cancelled")
OPEN_STATUSES = ("pending", "queued", "dialing", "answered")
_OPEN = text("status IN ('pending', 'queued', 'dialing', 'answered')")


class CallbackSettings(Base):
    """One tenant's callback policy; a tenant without a row gets the defaults below."""

    __tablename__ = "callback_settings"
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), default="customer_first")
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    retry_after_s: Mapped[float] = mapped_column(Float, default=120.0)
    retry_factor: Mapped[float] = mapped_column(Float, default=2.0)
    retry_max_s: Mapped[float] = mapped_column(Float, default=1800.0)
    # How long after its first possible time a callback may still be placed.
    window_s: Mapped[float] = mapped_column(Float, default=4 * 3600.0)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    # Destinations: region codes ("US", "GB") and E.164 prefixes ("+4420"); empty: none.
    allow: Mapped[list[Any]] = mapped_column(default=list)
    # Refused even inside ``allow`` (added to the built-in high-risk list).
    deny: Mapped[list[Any]] = mapped_column(default=list)
    # The number the customer sees (E.164 digits); empty: the tenant's first number.
    caller_id: Mapped[str] = mapped_column(String(32), default="")
    # A caller who was waiting for an agent when the Asterisk carrying the call died is
    # called back (when the allow-list lets their number be dialled).
    after_lost_call: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Callback(Base):
    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_due", "status", "next_attempt_at"),
        Index("ix_callbacks_tenant_status", "tenant_id", "status"),
        Index("ix_callbacks_contact", "contact_id"),
        UniqueConstraint("tenant_id", "session_id", "request_key"),
        # One open callback per number and tenant (a second request gets 409).
        Index("ux_callbacks_open_phone", "tenant_id", "phone", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164 with '+'
    source: Mapped[str] = mapped_column(String(8))  # one of SOURCES
    mode: Mapped[str] = mapped_column(String(16))  # one of MODES
    status: Mapped[str] = mapped_column(String(16), default="pending")  # one of STATUSES
    # The customer's place in the queue: their first arrival (IVR), request or chosen time.
    place_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    not_before: Mapped[dt.datetime] = mapped_column(default=utcnow)
    window_end: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime | None]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    last_result: Mapped[str | None] = mapped_column(String(24))
    page_url: Mapped[str | None] = mapped_column(Text)
    # The customer's browser session (public token) that may read or cancel it.
    session_id: Mapped[str | None] = mapped_column(String(64))
    # The client's Idempotency-Key: a retried request gets the same callback back.
    request_key: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("callback_id", "n"),
        Index("ix_callback_attempts_open", "node", "result"),
    )
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the ARI channel id
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    callback_id: Mapped[str] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    node: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Past this time without an answer the attempt is checked against Asterisk.
    deadline: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # None while in flight; then answered | busy | no-answer | rejected | failed | unknown |
    # not-confirmed | agent-gone | cancelled (see ccari.callbacks.schedule).
    result: Mapped[str | None] = mapped_column(String(24))
    cause: Mapped[int | None] = mapped_column(Integer)
