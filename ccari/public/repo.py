"""Lookups of the public side, scoped to one tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.storage.models import Agent, AgentSkill

TOPIC_ATTRIBUTE = "skill"


async def topics(session: AsyncSession, tenant_id: int) -> list[str]:
    """What a customer may ask help about: the ``skill`` values the tenant's agents have
    (a topic nobody has would never be routed)."""
    rows = await session.scalars(
        select(AgentSkill.value).distinct()
        .join(Agent, Agent.id == AgentSkill.agent_id)
        .where(Agent.tenant_id == tenant_id, AgentSkill.name == TOPIC_ATTRIBUTE)
        .order_by(AgentSkill.value))
    return list(rows)
