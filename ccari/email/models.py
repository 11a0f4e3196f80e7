"""Tables of the email context (imported by ccari.storage.all_models for Alembic).

A :class:`Mailbox` is one support address of a tenant (``support@acme.example``) with its
routing: default attributes and ordered rules (``ccari.email.rules``).  Every message in or
out is an :class:`EmailMessage` row attached to the contact of its thread; outbound rows are
also the outbox (``status`` pending -> sent | failed), so a reply saved before a crash is
sent after the restart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow

__all__ = ["Base", "EmailMessage", "Mailbox"]


class Mailbox(Base):
    __tablename__ = "email_mailboxes"
    __table_args__ = (Index("ix_email_mailboxes_tenant", "tenant_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # Lower-case; one intake serves every tenant, so an address belongs to one tenant.
    address: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Routing attributes of every message to this address, e.g. {"skill": "support"} ...
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ... unless a rule matches first: [{"match": {"subject": "invoice"},
    #   "attributes": {"skill": "sales"}, "priority": 5}, ...] (see ccari.email.rules).
    rules: Mapped[list[Any]] = mapped_column(default=list)
    auto_ack: Mapped[bool] = mapped_column(Boolean, default=True)
    # Announced when no agent who could answer is logged in (the queue cannot predict).
    response_target_s: Mapped[float] = mapped_column(Float, default=4 * 3600.0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EmailMessage(Base):
    __tablename__ = "email_messages"
    __table_args__ = (
        # Message-ID is the idempotency key: a client retrying after a lost 250 adds nothing.
        UniqueConstraint("tenant_id", "message_id", name="uq_email_messages_tenant_msgid"),
        Index("ix_email_messages_contact", "tenant_id", "contact_id"),
        Index("ix_email_messages_outbox", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_mailboxes.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(8))  # mail | web (in); ack | reply (out)
    message_id: Mapped[str] = mapped_column(String(500))
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    # The References chain, space-separated, oldest first.
    refs: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    # Where an answer goes (Reply-To, else From) for inbound; the recipient for outbound.
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # e.g. [{"filename": "bill.pdf", "content_type": "application/pdf", "size": 1234}]
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    # The message as received, or exactly as it is (re)sent: retries keep the Message-ID.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    # received (in); pending -> sent | failed (out)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    # The node sending it now (a restarted node takes back its own unfinished sends at once).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[dt.datetime | None]
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
