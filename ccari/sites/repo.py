"""The sites' rows (a site is created by naming it: an agent's site, or its capacity)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.storage.models import Agent, Site


async def all_sites(session: AsyncSession) -> list[Site]:
    return list(await session.scalars(select(Site).order_by(Site.id)))


async def of_tenant(session: AsyncSession, tenant_id: int) -> list[Site]:
    return list(await session.scalars(
        select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name)))


async def by_name(session: AsyncSession, tenant_id: int, name: str) -> Site | None:
    return await session.scalar(select(Site).where(Site.tenant_id == tenant_id, Site.name == name))



async def agent_by_phone(session: AsyncSession, tenant_id: int, phone: str) -> Agent | None:
    """The tenant's agent whose phone is the PJSIP endpoint ``phone``."""
    return await session.scalar(select(Agent).where(Agent.tenant_id == tenant_id,
                                                    Agent.phone_username == phone))
