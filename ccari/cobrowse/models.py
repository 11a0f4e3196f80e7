"""Tables of the cobrowse context (imported by ccari.storage.all_models for Alembic).

A :class:`CobrowseSession` is one sharing of a customer's pages: started by the customer's
browser (its signed session token names the tenant and the browser session), shown to an
agent once the agent links it to the contact they handle with the short code, ended by the
customer, the agent, the contact's end or the code's expiry.  :class:`CobrowseSettings`
holds what a tenant tunes (extra fields to mask, code lifetime).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

# Imported here so that Alembic's metadata sees the entitlement source table of the crm
# context until ccari.storage.all_models lists ccari.crm.entitlements itself.
from ccari.crm.models import EntitlementSource
from ccari.storage.models import Base, new_id, utcnow

STATES = ("waiting", "linked", "ended")


class CobrowseSession(Base):
    __tablename__ = "cobrowse_sessions"
    __table_args__ = (
        Index("ix_cobrowse_tenant_code", "tenant_id", "code"),
        Index("ix_cobrowse_customer", "tenant_id", "customer_session"),
        Index("ix_cobrowse_contact", "contact_id"),
        Index("ix_cobrowse_state", "state"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The browser session of the customer's signed token (CustomerSession.session_id).
    customer_session: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(6))
    state: Mapped[str] = mapped_column(String(16), default="waiting")  # one of STATES
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # The customer allows the agent to point, highlight and send them to another page.
    consent: Mapped[bool] = mapped_column(default=False)
    origin: Mapped[str | None] = mapped_column(String(255))
    page_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    linked_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))


class CobrowseSettings(Base):
    __tablename__ = "cobrowse_settings"
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    # A CSS selector of the tenant's own sensitive fields, masked in the customer's browser
    # on top of passwords, card fields and anything marked data-ccari-mask.
    mask_selector: Mapped[str] = mapped_column(String(500), default="")
    # How long a short code waits for an agent before it expires.
    code_ttl_s: Mapped[int] = mapped_column(Integer, default=600)


class CobrowseFrame(Base):
    """A customer's message for mirrors on other nodes, too large for a notification
    (several nodes only): the notification names it, the mirror's node reads it back (and
    deletes it when it is the only reader); what is left is deleted after a minute."""

    __tablename__ = "cobrowse_frames"
    __table_args__ = (Index("ix_cobrowse_frames_created", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


__all__ = ["Base", "CobrowseFrame", "CobrowseSession", "CobrowseSettings", "EntitlementSource"]
