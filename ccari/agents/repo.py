"""Agent lookups, always scoped to a tenant except for PBX rendering."""

from __future__ import annotations

from sqlalchemy import Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.storage.models import Agent, Tenant


async def get(session: AsyncSession, tenant_id: int, agent_id: int) -> Agent | None:
    return await session.scalar(
        select(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id)
    )


async def by_login(session: AsyncSession, tenant_slug: str, username: str) -> Agent | None:
    return await session.scalar(
        select(Agent)
        .join(Tenant, Tenant.id == Agent.tenant_id)
        .where(Tenant.slug == tenant_slug, Agent.username == username)
    )


async def all_agents(session: AsyncSession) -> list[Agent]:
    """Every agent of every tenant: only for building the PBX config and the router."""
    return list(await session.scalars(select(Agent).order_by(Agent.id)))


def _presence(tenant_id: int, agent_id: int, presence: str) -> Update:
    return update(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id).values(
        presence=presence)


async def set_presence(session: AsyncSession, tenant_id: int, agent_id: int, presence: str) -> None:
    await session.execute(_presence(tenant_id, agent_id, presence))


def set_presence_sync(session: Session, tenant_id: int, agent_id: int, presence: str) -> None:
    session.execute(_presence(tenant_id, agent_id, presence))
