"""A colleague rung by a consult: who she is (named, or chosen for a skill), kept out of the
queue's offers while her leg lasts (not ready, ``in_call``), and her page showing the call's
screen pop (the same customer and history, marked as a consult from the agent) from the
moment her phone rings until her leg is gone (after a complete, until she leaves the call).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import AgentHub
from ccari.ari import ids
from ccari.ari.ids import Kind
from ccari.contacts.screenpop import screen_pop
from ccari.contacts.services import QueueService
from ccari.errors import NotFound
from ccari.storage.models import Agent, AgentSkill, Contact
from ccari.voice.transfer_targets import ToAgent, ToSkill, check_colleague, colleague_for_skill


class Colleagues:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 hub: AgentHub, now: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._queue = queue
        self._hub = hub
        self._now = now
        self._engaged: dict[str, int] = {}  # a colleague's leg -> her agent id

    async def choose(self, agent: Agent, target: ToAgent | ToSkill) -> Agent:
        """The colleague a consult rings: the one named (404 ``agent-not-found``), or for a
        skill the most proficient ready one (409 ``no-agent-free``); 409
        ``agent-unavailable`` unless she is ready."""
        async with self._sessions() as s:
            if isinstance(target, ToSkill):
                rows = (await s.execute(
                    select(Agent.id, Agent.username, AgentSkill.proficiency).join(AgentSkill)
                    .where(Agent.tenant_id == agent.tenant_id, AgentSkill.name == "skill",
                           AgentSkill.value == target.skill))).tuples().all()
                ready = [(name, level) for aid, name, level in rows
                         if self._queue.agent_state(aid) == "ready"
                         and self._queue.phone_reachable(aid)]
                target = ToAgent(colleague_for_skill(ready, agent.username))
            other = await s.scalar(select(Agent).where(Agent.tenant_id == agent.tenant_id,
                                                       Agent.username == target.username))
        if other is None:
            raise NotFound("no such agent", error_id="agent-not-found")
        check_colleague(self._queue.agent_state(other.id), same_agent=other.id == agent.id)
        return other

    async def by_username(self, tenant_id: int, username: str) -> Agent | None:
        async with self._sessions() as s:
            agent: Agent | None = await s.scalar(select(Agent).where(
                Agent.tenant_id == tenant_id, Agent.username == username))
        return agent

    async def engage(self, leg: str, colleague: int | None) -> None:
        """Her leg is rung (or rebuilt): she is offered no queued work until it is gone."""
        if colleague is not None:
            self._engaged[leg] = colleague
            await self._queue.set_engaged(colleague, True)

    async def pop(self, leg: str, contact: Contact, agent: Agent) -> None:
        """Her page: the call's screen pop, a consult from ``agent``."""
        colleague = self._engaged.get(leg)
        if colleague is None:
            return
        async with self._sessions() as s:
            card = await screen_pop(s, contact, self._now())
        await self._hub.send(colleague, {"type": "offer", "contact": card,
                                         "consult": {"from": agent.display_name}})

    async def answered(self, leg: str, contact_id: str) -> None:
        colleague = self._engaged.get(leg)
        if colleague is not None:
            await self._hub.send(colleague, {"type": "connected", "contact_id": contact_id})

    async def disengage(self, leg: str) -> None:
        """Her leg is gone: she may be offered queued work again; the pop leaves her page."""
        colleague = self._engaged.pop(leg, None)
        if colleague is not None:
            await self._queue.set_engaged(colleague, False)
            contact_id = ids.rest_of(leg, Kind.CONSULT_LEG).rpartition("-")[0]
            await self._hub.send(colleague, {"type": "withdrawn", "contact_id": contact_id})
