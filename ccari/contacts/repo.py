"""Contact rows and their event log.  Every state change is written with an event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.contacts.lifecycle import LIVE, Fact, step
from ccari.storage.models import Contact, ContactEvent

# Contacts being handled on a node now (the lifecycle's LIVE states, as stored).
OPEN_STATES = tuple(sorted(s.value for s in LIVE))


async def create(session: AsyncSession, **fields: Any) -> Contact:
    contact = Contact(**fields)
    session.add(contact)
    await session.flush()
    session.add(
        ContactEvent(
            tenant_id=contact.tenant_id, contact_id=contact.id, kind="created",
            at=contact.arrived_at, data={"state": contact.state, "medium": contact.medium},
        )
    )
    return contact


async def get(session: AsyncSession, contact_id: str, tenant_id: int | None = None,
              *, for_update: bool = False) -> Contact | None:
    """``for_update`` locks the row (PostgreSQL) for a check-then-change in one transaction."""
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    if tenant_id is not None:
        query = query.where(Contact.tenant_id == tenant_id)
    return await session.scalar(query)


async def apply(
    session: AsyncSession, contact: Contact, fact: Fact, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Move a contact by ``fact`` (the lifecycle decides the new state, or raises
    ``IllegalTransition``), set ``fields`` and log the move (the caller commits)."""
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
