"""Contact rows and their event log.  Every state change is written with an event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.storage.models import Contact, ContactEvent

OPEN_STATES = ("ivr", "queued", "offered", "connected")


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


async def transition(
    session: AsyncSession, contact: Contact, state: str, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Move a contact to ``state`` and log the change (the caller commits)."""
    data: dict[str, Any] = {"from": contact.state, "to": state}
    for key, value in fields.items():
        setattr(contact, key, value)
        if isinstance(value, str | int | float | type(None)):
            data[key] = value
    contact.state = state
    session.add(contact)
    session.add(
        ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=state, data=data)
    )
    return contact


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
