"""Tenant lookups.  Everything is keyed by tenant; nothing here crosses tenants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.storage.models import IvrMenu, Number, Queue, Tenant
from ccari.web.security import hash_token


async def by_token(session: AsyncSession, token: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.api_token_hash == hash_token(token)))


async def by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def blend_holds(session: AsyncSession) -> dict[int, float]:
    """The tenants that set their own fair-blending hold, and theirs."""
    rows = await session.execute(
        select(Tenant.id, Tenant.blend_hold_s).where(Tenant.blend_hold_s.is_not(None)))
    return {tenant_id: float(hold) for tenant_id, hold in rows if hold is not None}


async def number_by_did(session: AsyncSession, did: str) -> Number | None:
    return await session.scalar(select(Number).where(Number.did == did.lstrip("+")))


async def menu(session: AsyncSession, tenant_id: int, menu_id: int | None) -> IvrMenu | None:
    if menu_id is None:
        return None
    return await session.scalar(
        select(IvrMenu).where(IvrMenu.id == menu_id, IvrMenu.tenant_id == tenant_id)
    )


async def queue(session: AsyncSession, tenant_id: int, queue_id: int | None) -> Queue | None:
    if queue_id is None:
        return await session.scalar(
            select(Queue).where(Queue.tenant_id == tenant_id).order_by(Queue.id).limit(1)
        )
    return await session.scalar(
        select(Queue).where(Queue.id == queue_id, Queue.tenant_id == tenant_id)
    )


async def all_numbers(session: AsyncSession) -> list[tuple[Number, Tenant]]:
    rows = await session.execute(select(Number, Tenant).join(Tenant, Tenant.id == Number.tenant_id))
    return [(n, t) for n, t in rows.tuples()]
