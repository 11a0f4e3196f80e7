"""Queries of the fax list (functions that take a session; every query names the tenant).

One page of a tenant's faxes, received and sent together, newest first: the database pages
the union of both tables (ids and times only, on the ``(tenant_id, created_at)`` indexes),
then the page's own rows are read with their agent's name and a sent fax's attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.fax.listing import Attempt, Filters, Found, Received, Sent
from ccari.fax.listing import zone as listing_zone
from ccari.fax.models import Fax, FaxAttempt, FaxSend
from ccari.storage.models import Agent, Contact, Tenant


def _side(direction: str, model: Any, number: Any, tenant_id: int, f: Filters) -> Any:
    """One direction's ids and times under the filters (``number``: its remote number)."""
    query = select(literal(direction, String).label("direction"), model.id.label("id"),
                   model.created_at.label("created_at")).where(model.tenant_id == tenant_id)
    if f.status:
        query = query.where(model.status == f.status)
    if f.since:
        query = query.where(model.created_at >= f.since)
    if f.until:
        query = query.where(model.created_at < f.until)
    if f.number:
        query = query.where(number.contains(f.number, autoescape=True))
    return query


async def listing(s: AsyncSession, tenant_id: int, f: Filters) -> Found:
    """The tenant's faxes the filters let through: how many, and one page of them."""
    parts = ([_side("received", Fax, Fax.sender_number, tenant_id, f)] if f.received() else []) + (
        [_side("sent", FaxSend, FaxSend.to_number, tenant_id, f)] if f.sent() else [])
    if not parts:
        return Found(0, ())
    both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    total = await s.scalar(select(func.count()).select_from(both)) or 0
    keys = (await s.execute(select(both.c.direction, both.c.id)
                            .order_by(both.c.created_at.desc(), both.c.id.desc())
                            .limit(f.size).offset(f.offset))).tuples().all()
    received = [i for d, i in keys if d == "received"]
    sent = [i for d, i in keys if d == "sent"]
    found: dict[str, Received | Sent] = {}
    if received:
        rows = await s.execute(
            select(Fax, Contact, Agent.display_name)
            .outerjoin(Contact, (Contact.id == Fax.contact_id) & (Contact.tenant_id == tenant_id))
            .outerjoin(Agent, (Agent.id == Contact.agent_id) & (Agent.tenant_id == tenant_id))
            .where(Fax.tenant_id == tenant_id, Fax.id.in_(received)))
        for fax, contact, agent in rows.tuples():
            found[fax.id] = received_of(fax, contact, agent)
    if sent:
        attempts: dict[str, list[FaxAttempt]] = {}
        for a in await s.scalars(select(FaxAttempt).where(
                FaxAttempt.tenant_id == tenant_id, FaxAttempt.send_id.in_(sent))
                .order_by(FaxAttempt.started_at, FaxAttempt.id)):
            attempts.setdefault(a.send_id, []).append(a)
        for send in await s.scalars(select(FaxSend).where(FaxSend.tenant_id == tenant_id,
                                                          FaxSend.id.in_(sent))):
            found[send.id] = sent_of(send, attempts.get(send.id, []))
    return Found(total, tuple(found[i] for _, i in keys if i in found))


async def zone(s: AsyncSession, tenant_id: int) -> ZoneInfo:
    """The tenant's clock (:func:`ccari.fax.listing.zone`)."""
    return listing_zone(await s.scalar(select(Tenant.hours).where(Tenant.id == tenant_id)))


def received_of(fax: Fax, contact: Contact | None, agent: str | None = None) -> Received:
    """A received fax as stored, with its contact's state and agent (``agent``: her name)."""
    return Received(
        fax.id, fax.created_at, fax.status, fax.sender_number, fax.station_id, fax.pages,
        fax.error, fax.detail, fax.contact_id, fax.pdf_sha256 is not None, agent,
        settled_at=fax.settled_at, tiff_sha256=fax.tiff_sha256, pdf_sha256=fax.pdf_sha256,
        state=contact.state if contact is not None else None,
        agent_id=contact.agent_id if contact is not None else None,
        detected=fax.detected, mode=fax.mode)


def sent_of(send: FaxSend, attempts: Sequence[FaxAttempt]) -> Sent:
    """A sent fax as stored, with its attempts (oldest first)."""
    return Sent(send.id, send.created_at, send.status, send.to_number, send.pages,
                send.retry_at, tuple(Attempt(a.status, a.pages, a.error, a.started_at,
                                             id=a.id, ended_at=a.ended_at,
                                             requested_by=a.requested_by) for a in attempts),
                pdf_sha256=send.pdf_sha256, sent_by=send.sent_by, station_id=send.station_id)
