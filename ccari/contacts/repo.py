"""Contact rows and their event log.  Every state change is written with an event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.contacts.lifecycle import LIVE, Fact, step
from ccari.storage.models import Contact, ContactEvent, new_id, utcnow

# The ``*_sync`` functions take a synchronous Session: the hot path's shared commits
# (ccari.storage.batch) run them; the async ones are the same for an AsyncSession.
AnySession = Session | AsyncSession

# Contacts being handled on a node now (the lifecycle's LIVE states, as stored).
OPEN_STATES = tuple(sorted(s.value for s in LIVE))


def create_sync(session: AnySession, **fields: Any) -> Contact:
    """A new contact and its "created" event, added to the session (no I/O)."""
    fields.setdefault("id", new_id())
    fields.setdefault("arrived_at", utcnow())
    contact = Contact(**fields)
    session.add(contact)
    session.add(
        ContactEvent(
            tenant_id=contact.tenant_id, contact_id=contact.id, kind="created",
            at=contact.arrived_at, data={"state": contact.state, "medium": contact.medium},
        )
    )
    return contact


async def create(session: AsyncSession, **fields: Any) -> Contact:
    contact = create_sync(session, **fields)
    await session.flush()
    return contact


def _get(contact_id: str, tenant_id: int | None, for_update: bool) -> Select[tuple[Contact]]:
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    if tenant_id is not None:
        query = query.where(Contact.tenant_id == tenant_id)
    return query


def get_sync(session: Session, contact_id: str, tenant_id: int | None = None,
             *, for_update: bool = False) -> Contact | None:
    return session.scalar(_get(contact_id, tenant_id, for_update))


async def get(session: AsyncSession, contact_id: str, tenant_id: int | None = None,
              *, for_update: bool = False) -> Contact | None:
    """``for_update`` locks the row (PostgreSQL) for a check-then-change in one transaction."""
    return await session.scalar(_get(contact_id, tenant_id, for_update))


async def apply(
    session: AnySession, contact: Contact, fact: Fact, *, at: dt.datetime, **fields: Any
) -> Contact:
    return apply_sync(session, contact, fact, at=at, **fields)


def apply_sync(
    session: AnySession, contact: Contact, fact: Fact, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Move a contact by ``fact`` (the lifecycle decides the new state, or raises
    ``IllegalTransition``), set ``fields`` and log the move (the caller commits; no I/O)."""
    state = step(contact.state, fact)
    data: dict[str, Any] = {"from": contact.state, "to": state.value, "fact": fact.value}
    _set(contact, fields, data)
    contact.state = state.value
    session.add(contact)
    session.add(
        ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=state.value,
                     data=data)
    )
    return contact


async def update(
    session: AsyncSession, contact: Contact, kind: str, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Change ``fields`` of a contact without moving it (priority, time), logged as ``kind``."""
    data: dict[str, Any] = {"state": contact.state}
    _set(contact, fields, data)
    session.add(contact)
    session.add(ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=kind,
                             data=data))
    return contact


def _set(contact: Contact, fields: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(contact, key, value)
        if isinstance(value, str | int | float | type(None)):
            data[key] = value


async def log(
    session: AsyncSession, contact: Contact, kind: str, at: dt.datetime, **data: Any
) -> None:
    session.add(
        ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=kind, data=data)
    )


async def open_contacts(session: AsyncSession, node: str, medium: str | None = None) -> list[Contact]:
    query = select(Contact).where(Contact.state.in_(OPEN_STATES), Contact.node == node)
    if medium is not None:
        query = query.where(Contact.medium == medium)
    return list(await session.scalars(query.order_by(Contact.arrived_at)))


async def events(session: AsyncSession, tenant_id: int, contact_id: str) -> list[ContactEvent]:
    return list(
        await session.scalars(
            select(ContactEvent)
            .where(ContactEvent.tenant_id == tenant_id, ContactEvent.contact_id == contact_id)
            .order_by(ContactEvent.id)
        )
    )


async def recent(session: AsyncSession, tenant_id: int, limit: int = 50) -> list[Contact]:
    return list(
        await session.scalars(
            select(Contact)
            .where(Contact.tenant_id == tenant_id)
            .order_by(Contact.arrived_at.desc())
            .limit(limit)
        )
    )
