"""Tables of the chat context (imported by ccari.storage.all_models for Alembic).

A chat is a contact of medium ``chat``; :class:`ChatSession` ties it to the customer's
browser session (the signed token's session id) and numbers its messages;
:class:`ChatMessage` is the transcript, one row per message, saved before anyone sees it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow

SENDERS = ("customer", "agent", "system")


class ChatSession(Base):
    """The conversation of one chat contact: who the customer is (browser session) and the
    last sequence number given to a message."""

    __tablename__ = "chat_sessions"
    __table_args__ = (Index("ix_chat_sessions_session", "tenant_id", "session_id"),)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Where the customer wants the transcript (given when opening or asking for it).
    customer_address: Mapped[str | None] = mapped_column(String(254))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(16))  # customer | agent | system


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("contact_id", "seq"),
                      Index("ix_chat_messages_client", "contact_id", "client_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(16))  # one of SENDERS
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The sending page's id for the message: a page that resends after a reconnect gets
    # the saved message back instead of a second copy.
    client_id: Mapped[str | None] = mapped_column(String(64))
