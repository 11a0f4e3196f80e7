"""The schema.  Every tenant-owned row carries ``tenant_id``; repositories filter on it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypedDict

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    api_token_hash: Mapped[str | None] = mapped_column(String(128))
    # Trunk admission: permitted = max(A * trunk_ratio, A + after_hours_trunks).
    trunk_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    after_hours_trunks: Mapped[int] = mapped_column(Integer, default=0)
    overflow_policy: Mapped[str] = mapped_column(String(20), default="busy")
    # Business hours (ccari.provisioning.hours' JSON); None: no hours, never after hours.
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The after-hours route of its numbers that have none; None: the announcement.
    after_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Fair blending: the tenant's own routing.blend_hold_s (0 = off); None = the node default.
    blend_hold_s: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # The wallboard's service level threshold (seconds); None: wallboard.service_level_s.
    service_level_s: Mapped[float | None] = mapped_column(Float)
    # Call recording (ccari.recording.policy's JSON); None: nothing recorded.
    recording: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The agents' wrap-up codes (a list of codes); None: the node's voice.disposition_codes.
    dispositions: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # The site's WAN link, kbit/s per direction (ccari.sites); None: unlimited.
    wan_kbps: Mapped[int | None] = mapped_column(Integer)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    # The agent's SIP phone: one PJSIP endpoint named phone_username (global namespace).
    phone_username: Mapped[str] = mapped_column(String(100), unique=True)
    phone_password: Mapped[str] = mapped_column(String(100))
    phone_contact: Mapped[str | None] = mapped_column(String(255))
    # "sip": a SIP phone; "browser": the agent page is the phone (WebRTC; the PJSIP password
    # is replaced at each login and handed to the logged-in page only).
    device: Mapped[str] = mapped_column(String(16), default="sip", server_default="sip")
    # Media slots, e.g. {"per_medium": {"voice": 1, "chat": 3}, "total": 3, "exclusive": ["voice"]}
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the agent last chose (logged_out, not_ready, ready): restored after a restart.
    presence: Mapped[str] = mapped_column(String(16), default="logged_out")
    # Why ccari made her not ready ("missed_offer"), kept with that presence so that a
    # rebuilt router (a restart, a new cluster leader) shows it still; None when she chose.
    away_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # When her timed wrap-up ends (after a contact, the queue's wrap_up_s): a rebuilt router
    # keeps her in wrap-up until then; None when she is not in one.
    wrap_until: Mapped[dt.datetime | None]
    # Her pages went with a ccari node that died (several nodes): out of routing, her chosen
    # presence kept, until a page of hers opens again; a new routing leader reads it.
    page_lost: Mapped[bool] = mapped_column(default=False, server_default=false())
    # "agent", or "supervisor": also sees and reorders the tenant's pending contacts.
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    # Her page sessions' generation: a signed cookie of an older one is refused, so logging
    # out (or an admin setting a new password) ends every session she had, copies included.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", lazy="selectin"
    )


class AgentSkill(Base):
    """An attribute an agent has (name=value) with a proficiency (1..10)."""

    __tablename__ = "agent_skills"
    __table_args__ = (UniqueConstraint("agent_id", "name", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(64))
    proficiency: Mapped[int] = mapped_column(Integer, default=5)
    agent: Mapped[Agent] = relationship(back_populates="skills")


# How deep IVR menus may nest (the root menu is level 1); provisioning refuses deeper ones.
MAX_IVR_DEPTH = 4


class IvrMenu(Base):
    __tablename__ = "ivr_menus"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prompt: Mapped[str] = mapped_column(String(200))
    invalid_prompt: Mapped[str] = mapped_column(String(200))
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    # What the contact gets when every try failed: attributes, or {} for "hang up".
    default_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[list[IvrOption]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IvrOption.digit",
        foreign_keys="IvrOption.menu_id", join_depth=2 * MAX_IVR_DEPTH,
    )


class IvrOption(Base):
    __tablename__ = "ivr_options"
    __table_args__ = (UniqueConstraint("menu_id", "digit"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    menu_id: Mapped[int] = mapped_column(ForeignKey("ivr_menus.id", ondelete="CASCADE"))
    digit: Mapped[str] = mapped_column(String(1))
    label: Mapped[str] = mapped_column(String(100))
    # Routing attributes the caller gets with this digit, e.g. {"skill": "sales"}.
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the digit does: None queues the caller with ``attributes``; "callback" offers a
    # callback instead (the caller keeps their place), routed with the same attributes.
    action: Mapped[str | None] = mapped_column(String(16))
    # A sub-menu of the same tenant the digit leads to (``attributes`` are kept on the way).
    submenu_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_menus.id"))
    # Loaded with the menu, MAX_IVR_DEPTH levels down (the eager-load cycle menu -> option ->
    # menu counts two steps a level).
    submenu: Mapped[IvrMenu | None] = relationship(
        foreign_keys=[submenu_id], lazy="selectin", join_depth=2 * MAX_IVR_DEPTH
    )


class Queue(Base):
    """A routing rule set: which pool serves the contacts and how requirements relax."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    wrap_up_s: Mapped[float] = mapped_column(Float, default=5.0)
    announce_every_s: Mapped[float] = mapped_column(Float, default=30.0)
    # Played once when a caller joins, before music and announcements: a tenant's own prompt
    # (``tenant:<name>``, ccari.provisioning.prompts); None: none.
    greeting: Mapped[str | None] = mapped_column(String(120), default=None)
    # Relaxation steps, e.g. [{"after_s": 30, "min_proficiency": 2}, {"after_s": 120, ...}]
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Number(Base):
    __tablename__ = "numbers"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    did: Mapped[str] = mapped_column(String(32), unique=True)  # E.164 digits, no '+'
    ivr_menu_id: Mapped[int | None] = mapped_column(ForeignKey("ivr_menus.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    # Its own business hours (None: the tenant's), and what a call gets outside them.
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # "voice" (the IVR and the queue) or "fax" (received as a document: ccari.fax).
    purpose: Mapped[str] = mapped_column(String(8), default="voice", server_default="voice")


class Customer(Base):
    """The CRM record shown in the screen pop."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    # e.g. [{"service": "broadband", "level": "gold"}]
    entitlements: Mapped[list[Any]] = mapped_column(default=list)
    phones: Mapped[list[CustomerPhone]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    tickets: Mapped[list[TroubleTicket]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))  # E.164 digits, no '+'


class TroubleTicket(Base):
    __tablename__ = "trouble_tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ccari's own bookkeeping about a contact, kept apart from its routing attributes: never
# routed on, never shown as attributes.  Every key is optional.
ContactMeta = TypedDict("ContactMeta", {
    "ivr": list[str],          # voice: the IVR's digit history (shown in the screen pop)
    "overflow": str,           # voice: the overflow treatment that answered the call
    "refused": str,            # voice: why trunk admission refused the call
    "after_hours": str,        # voice: the after-hours route it took (announcement, ...)
    "page_url": str,           # chat, email, callback, web call: the page it came from
    "origin": str,             # voice: "web" for a call from the customer's page (talk now)
    "chat": str,               # web call: the customer's chat contact on that page
    "cobrowse": str,           # web call: the co-browsing session going on then
    "subject": str,            # email: the first message's subject
    "from": str,               # email: the customer's reply address
    "mailbox": str,            # email: the tenant's address it came to
    "reserved_agent": str,     # chat, voice: transferred to this colleague (an agent id) only
    "topic": str,              # chat: its topic before it was transferred to a colleague
    "callback": str,           # callback: the callback's id
    "call": str,               # voicemail: the call contact it was recorded on
    "hold_s": float,           # voice: seconds the caller spent on hold (agent's hold)
    "transfers": list[dict[str, Any]],  # voice: blind transfers, {"agent_id", "to": attributes
                                        # or {"agent"} or {"number"}, "leg" for a number}
    "consults": list[dict[str, Any]],   # voice: consultative transfers, {"agent_id", "to", "leg"}
    "conference": list[dict[str, Any]],  # voice: parties the agent added, {"agent_id", "to", "leg"}
    "ended_by": str,           # voice: who ended the call, once a wrap-up code replaced it
    "note": str,               # the agent's wrap-up note
    "agent_left": int,         # voice: the agent whose part is over while the call goes on
                               # (she left her conference, completed a consult, was taken
                               # over from)
    "taken_over_by": int,      # voice: the supervisor who took the call over
    "watched_by": str,         # voice: the node answering for a connected call whose own
                               # node died (it goes on in that node's Asterisk)
    "wrap_up": dict[str, Any],  # voice: her {"disposition", "note"} until the call ends
    "fax": dict[str, Any],     # fax: how it came, {"detected": bool, "mode": "audio"|"t38"|None}
}, total=False)


class Contact(Base):
    """One media event of any medium, from arrival to completion."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_tenant_state", "tenant_id", "state"),
        Index("ix_contacts_channel", "channel_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    medium: Mapped[str] = mapped_column(String(16))
    # ivr -> queued -> offered -> connected -> completed | abandoned | rejected | failed
    state: Mapped[str] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(64), default="node1")
    channel_id: Mapped[str | None] = mapped_column(String(100))
    agent_channel_id: Mapped[str | None] = mapped_column(String(100))
    bridge_id: Mapped[str | None] = mapped_column(String(100))
    number_id: Mapped[int | None] = mapped_column(ForeignKey("numbers.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # Routing attributes only (what the router matches against agents' skills, what an
    # agent or supervisor sees), e.g. {"skill": "sales", "tier": "gold"}.
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ccari's own bookkeeping (ContactMeta).  A JSON column: assign a new dict to change it.
    meta: Mapped[ContactMeta] = mapped_column(JSON, default=dict, server_default="{}")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Not routed before this time (scheduled callbacks; a supervisor's reschedule).
    not_before: Mapped[dt.datetime | None]
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    offer_count: Mapped[int] = mapped_column(Integer, default=0)
    arrived_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[dt.datetime | None]
    connected_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str | None] = mapped_column(String(40))


class ContactEvent(Base):
    __tablename__ = "contact_events"
    __table_args__ = (Index("ix_contact_events_contact", "contact_id"),
                      Index("ix_contact_events_at", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class AgentStateEvent(Base):
    """An agent entered a state (ready, reserved, busy, wrap_up, not_ready, logged_out), as the
    router decided it: the reports' time per state and occupancy (ccari.reports)."""

    __tablename__ = "agent_state_events"
    __table_args__ = (Index("ix_agent_state_events_tenant_at", "tenant_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16))


# Usage reports read contacts by tenant and period; admission's call-duration history reads
# the voice contacts that ended recently.
Index("ix_contacts_tenant_arrived", Contact.tenant_id, Contact.arrived_at)
Index("ix_contacts_ended_at", Contact.ended_at)
