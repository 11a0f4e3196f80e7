"""Agent lookups, always scoped to a tenant except for PBX rendering and the SIP guard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Update, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, lazyload

from ccari.storage.models import Agent, AgentSkill, Tenant

Attributes = dict[tuple[str, str], int]
"""An agent's routing attributes: ``(name, value) -> proficiency``."""


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


async def device_of(session: AsyncSession, phone_username: str) -> str | None:
    """The device of the phone Asterisk knows as endpoint ``phone_username`` (the SIP guard:
    PJSIP endpoints are one namespace); None if no agent has it."""
    return await session.scalar(select(Agent.device).where(Agent.phone_username == phone_username))


async def roster(session: AsyncSession) -> list[tuple[Agent, Attributes]]:
    """Every agent of every tenant with its routing attributes, to rebuild the router.

    The skills are read as plain rows (a skill object per row was most of a restart's time
    with 20,000 agents); the agents' ``skills`` are left unloaded, so reading them later
    raises rather than answering from a session that is gone."""
    attributes: dict[int, Attributes] = {}
    keys: dict[tuple[str, str], tuple[str, str]] = {}  # agents with a skill share its key
    rows = await session.execute(
        select(AgentSkill.agent_id, AgentSkill.name, AgentSkill.value, AgentSkill.proficiency))
    for agent_id, name, value, level in rows:
        key = (name, value)
        attributes.setdefault(agent_id, {})[keys.setdefault(key, key)] = level
    agents = await session.scalars(
        select(Agent).options(lazyload(Agent.skills)).order_by(Agent.id))
    return [(agent, attributes.get(agent.id, {})) for agent in agents]


async def end_sessions(session: AsyncSession, tenant_id: int, agent_id: int) -> None:
    """Every page session the agent has is over (her signed cookies carry an older epoch)."""
    await session.execute(update(Agent).where(
        Agent.id == agent_id, Agent.tenant_id == tenant_id).values(
        session_epoch=Agent.session_epoch + 1))


def attributes_of(agent: Agent) -> Attributes | None:
    """The routing attributes of an agent, or ``None`` if its skills were not loaded."""
    if "skills" in inspect(agent).unloaded:
        return None
    return {(s.name, s.value): s.proficiency for s in agent.skills}


def _presence(tenant_id: int, agent_id: int, presence: str, reason: str | None) -> Update:
    return update(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id).values(
        presence=presence, away_reason=reason, wrap_until=None, page_lost=False)


async def set_presence(session: AsyncSession, tenant_id: int, agent_id: int, presence: str) -> None:
    """The presence she chose (no reason of ccari's; any wrap-up is over)."""
    await session.execute(_presence(tenant_id, agent_id, presence, None))


def set_presence_sync(session: Session, tenant_id: int, agent_id: int, presence: str, *,
                      reason: str | None = None) -> None:
    """``reason``: why ccari set it (``missed_offer``); None: she chose it."""
    session.execute(_presence(tenant_id, agent_id, presence, reason))


def set_away_sync(session: Session, tenant_id: int, agent_id: int, reason: str) -> None:
    """ccari makes her not ready for ``reason``, unless she has logged out (a lost page
    stays lost: she is not ready once one is back)."""
    session.execute(update(Agent).where(
        Agent.id == agent_id, Agent.tenant_id == tenant_id, Agent.presence != "logged_out",
    ).values(presence="not_ready", away_reason=reason, wrap_until=None))


def set_page_lost_sync(session: Session, agent_ids: Collection[int], lost: bool) -> None:
    """Her pages went with a node that died (``lost``), or one is open again."""
    if agent_ids:
        session.execute(update(Agent).where(Agent.id.in_(agent_ids)).values(page_lost=lost))


def set_wrap_until_sync(session: Session, tenant_id: int, agent_id: int,
                        until: dt.datetime) -> None:
    """She is in a timed wrap-up ending at ``until`` (her presence stays the one she chose)."""
    session.execute(update(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id)
                    .values(wrap_until=until))


def clear_wrap_until_sync(session: Session, tenant_id: int, agent_id: int,
                          until: dt.datetime) -> None:
    """Her wrap-up that was to end at ``until`` is over (a later one saved since is kept)."""
    session.execute(update(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id,
                                        Agent.wrap_until <= until).values(wrap_until=None))
