"""Delivery of work an agent takes on the web page (chat, email, web help requests).

The offer goes to the agent's open pages with its screen pop; the agent accepts or rejects
it from the page.  No answer within ``accept_timeout_s`` (``routing.accept_timeout_s``) is a
missed offer, like a phone that rings out: the contact goes back to its place in the queue
and the router's rule for missed offers applies (the agent not ready, reason missed offer;
the contact not offered straight back to them).  A reject from the page is a refusal.  An
agent with no page open cannot take web work: the queue offers these media only to agents
with a page open (``QueueService.register(..., on_page=True)``); should her last page close
as an offer is made, the offer fails at once and the router tries another agent.  Each
medium may hook ``on_accepted`` (its part of the lifecycle's ``connect``: chat joins the
agent to the conversation) and ``on_completed`` (its part of ``disconnect``: chat closes the
conversation); the rest of what follows each move is the lifecycle's commands, carried out by
the shared :class:`~ccari.contacts.executor.Executor`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.commands import AgentCommands, field
from ccari.contacts import lifecycle, repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.queue_core import utc
from ccari.contacts.screenpop import screen_pop
from ccari.contacts.services import QueueService
from ccari.errors import Conflict, NotFound
from ccari.storage.models import Agent, Contact
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
Hook = Callable[[Contact, Agent], Awaitable[None]]


class PageOffers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 *, accept_timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self._executor = Executor(queue)
        self._timeout = accept_timeout_s
        self._clock = clock
        self._timers: dict[str, asyncio.Task[Any]] = {}
        # contact id -> the agent its pending offer is to, and which offer of it (its count)
        self._offered: dict[str, tuple[int, int]] = {}
        self._tasks = TaskSet("page-offers")
        self._accepted: dict[str, Hook] = {}
        self._completed: dict[str, Hook] = {}
        self._media: set[str] = set()  # media delivered to the page (not calls)

    def register_medium(self, medium: str, *, on_accepted: Hook | None = None,
                        on_completed: Hook | None = None) -> None:
        """Make this the deliverer of ``medium`` and remember its hooks."""
        self._queue.register(medium, self, on_page=True)
        self._media.add(medium)
        if on_accepted is not None:
            self._accepted[medium] = on_accepted
        if on_completed is not None:
            self._completed[medium] = on_completed

    @property
    def accept_timeout_s(self) -> float:
        """How long an agent has to accept an offer (``routing.accept_timeout_s``)."""
        return self._timeout

    @property
    def media(self) -> frozenset[str]:
        """The media offered on the agent's page (calls ring her phone)."""
        return frozenset(self._media)

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register("accept", self._cmd_accept)
        commands.register("reject", self._cmd_reject)
        commands.register("complete", self._cmd_complete)

    async def close(self) -> None:
        await self._tasks.close()

    async def withdraw_all(self) -> None:
        """This node no longer routes (several nodes): its pending offers end on the pages,
        with no fact of their own (the next leader queues those contacts again), unless the
        next leader already offered the contact to the same agent again."""
        for contact_id, (agent_id, count) in list(self._offered.items()):
            self.stop_timer(contact_id)
            async with self._sessions() as s:
                row = await repo.get(s, contact_id)
            if (row is not None and row.state == State.OFFERED and row.agent_id == agent_id
                    and row.offer_count > count):
                continue
            await self._queue.pages.send(agent_id, {"type": "withdrawn", "contact_id": contact_id})

    def withdraw_from(self, agent_id: int) -> None:
        """Her pending offers' timers stop (her page is gone with its node; the queue takes
        the contacts back, :meth:`QueueService.page_lost`)."""
        for contact_id, (agent, _) in list(self._offered.items()):
            if agent == agent_id:
                self.stop_timer(contact_id)

    # ---- Deliverer -------------------------------------------------------------------------
    async def deliver(self, contact: Contact, agent: Agent) -> None:
        if not self._queue.pages.connected(agent.id):
            log.info("contact %s: agent %s has no page open", contact.id, agent.id,
                     extra=logs.about(contact.id, contact.tenant_id))
            await self._declined(contact, agent.id, missed=False)
            return
        async with self._sessions() as s:
            row = await repo.get(s, contact.id, agent.tenant_id)
            if row is None:
                return
            pop = await screen_pop(s, row, utc(self._clock()))
        self._timers[contact.id] = self._tasks.spawn(self._expire(contact, agent), f"offer-{contact.id}")
        self._offered[contact.id] = (agent.id, contact.offer_count)
        await self._queue.pages.send(agent.id, {"type": "offer", "contact": pop,
                                        "accept_within_s": self._timeout})

    async def _expire(self, contact: Contact, agent: Agent) -> None:
        await asyncio.sleep(self._timeout)
        self._timers.pop(contact.id, None)
        self._offered.pop(contact.id, None)
        async with self._sessions() as s:  # (taken or refused on another node's page)
            row = await repo.get(s, contact.id, contact.tenant_id)
        if row is None or row.state != State.OFFERED or row.agent_id != agent.id:
            return
        log.info("contact %s: agent %s did not accept in time", contact.id, agent.id,
                 extra=logs.about(contact.id, contact.tenant_id))
        await self._declined(contact, agent.id, missed=True)

    async def _declined(self, contact: Contact, agent_id: int, *, missed: bool) -> None:
        """The agent did not take the offer (refused, missed, no page to show it on)."""
        commands = lifecycle.move(State.OFFERED, Fact.DECLINED).commands
        await self._executor.carry_out(contact, commands, agent_id=agent_id, missed=missed)

    async def recall(self, contact: Contact, agent: Agent) -> None:
        """She logs out with this offer on her page: withdrawn from it, not her miss."""
        self.stop_timer(contact.id)
        await self._declined(contact, agent.id, missed=False)

    def stop_timer(self, contact_id: str) -> None:
        """The offer was answered (here, or on another node's page)."""
        self._offered.pop(contact_id, None)
        timer = self._timers.pop(contact_id, None)
        if timer is not None:
            timer.cancel()

    async def _offered_to(self, agent: Agent, contact_id: str, *states: str,
                          session: AsyncSession | None = None) -> Contact:
        if session is None:
            async with self._sessions() as s:
                return await self._offered_to(agent, contact_id, *states, session=s)
        contact = await repo.get(session, contact_id, agent.tenant_id, for_update=True)
        if contact is None or contact.agent_id != agent.id:
            raise NotFound("no such contact for you", error_id="contact-not-found")
        if contact.medium not in self._media:  # a call is answered on the phone, not here
            raise Conflict(f"a {contact.medium} contact is handled on the phone",
                           error_id="not-a-web-contact")
        if contact.state not in states:
            raise Conflict(f"the contact is {contact.state}", error_id="contact-not-" + states[0])
        return contact

    # ---- agent commands --------------------------------------------------------------------
    async def accept(self, agent: Agent, contact_id: str) -> Contact:
        now = utc(self._clock())
        async with self._sessions() as s:
            # Check and move in one transaction: two tabs accepting at once get one winner.
            row = await self._offered_to(agent, contact_id, "offered", session=s)
            wait = (now - (row.queued_at or row.arrived_at)).total_seconds()
            commands = lifecycle.move(row.state, Fact.ANSWERED).commands
            await repo.apply(s, row, Fact.ANSWERED, at=now, connected_at=now, wait_s=round(wait, 3))
            await s.commit()
        # Its timer stops once the answer is saved: an accept the database did not take
        # leaves the offer timed (its lapse re-reads the row: a saved accept is not undone).
        self.stop_timer(contact_id)
        await self._executor.carry_out(row, commands, agent_id=agent.id)
        hook = self._accepted.get(row.medium)
        if hook is not None:
            await hook(row, agent)
        log.info("contact %s accepted by agent %s", contact_id, agent.id)
        return row

    async def complete(self, agent: Agent, contact_id: str, disposition: str) -> Contact:
        now = utc(self._clock())
        async with self._sessions() as s:
            row = await self._offered_to(agent, contact_id, "connected", session=s)
            talk = (now - (row.connected_at or now)).total_seconds()
            commands = lifecycle.move(row.state, Fact.ENDED).commands
            await repo.apply(s, row, Fact.ENDED, at=now, ended_at=now,
                             talk_s=round(talk, 3), disposition=disposition[:40])
            await s.commit()
        await self._executor.carry_out(row, commands, agent_id=agent.id)
        hook = self._completed.get(row.medium)
        if hook is not None:
            await hook(row, agent)
        return row

    async def _cmd_accept(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact = await self.accept(agent, field(msg, "contact_id"))
        return {"type": "connected", "contact_id": contact.id, "medium": contact.medium}

    async def _cmd_reject(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact = await self._offered_to(agent, field(msg, "contact_id"), "offered")
        self.stop_timer(contact.id)
        await self._declined(contact, agent.id, missed=False)
        return {"type": "withdrawn", "contact_id": contact.id}

    async def _cmd_complete(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        disposition = msg.get("disposition") or "handled"
        if not isinstance(disposition, str):
            disposition = "handled"
        contact = await self.complete(agent, field(msg, "contact_id"), disposition)
        return {"type": "completed", "contact_id": contact.id}
