"""The universal queue's agent side: presence, calls the queue did not offer, open pages,
reachable phones and room for a call at the agent's site, each turned into the router's
agent updates."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.agents import repo as agents_repo
from ccari.agents.notifier import AgentHub
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.queue_core import QueueCore, saved_reason, utc
from ccari.contacts.routing import handled_items
from ccari.routing import AwayReason, Offer, RoutingError, Rules, WorkItem
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)


class QueueAgents(QueueCore):
    """The agents' side of the queue; the contacts' side is built on it
    (:class:`ccari.contacts.services.QueueService`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: AgentHub,
        *,
        node: str,
        clock: Callable[[], float] = time.time,
        rules: Rules | None = None,
        writes: GroupCommit | None = None,
    ) -> None:
        super().__init__(sessions, hub, node=node, clock=clock, rules=rules, writes=writes)
        hub.watch(self.page_changed)

    async def set_presence(self, agent: Agent, presence: str) -> str:
        """The agent chose logged_out, not_ready or ready.  Returns the router's state."""
        async with self._sessions() as s:
            await agents_repo.set_presence(s, agent.tenant_id, agent.id, presence)
            await s.commit()
        if not self._role.leads():
            await self._role.tell_leader("presence", tenant_id=agent.tenant_id,
                                         agent_id=agent.id)
            return self.agent_state(agent.id)
        await self.route_presence(agent, presence)
        return self.agent_state(agent.id)

    async def route_presence(self, agent: Agent, presence: str, *,
                             reason: AwayReason | None = None) -> None:
        """The router's part of :meth:`set_presence` (the presence is saved; ``reason``:
        why ccari made her not ready, as saved with it)."""
        self._agents[agent.id] = agent
        self._wrapping.pop(agent.id, None)  # any wrap-up is over: the save cleared its end
        self._page_lost.discard(agent.id)  # (so is a lost page: the save cleared it too)
        attributes = agents_repo.attributes_of(agent)
        if attributes is not None:  # else the ones read at start still hold
            self._attributes[agent.id] = attributes
        if (presence == "logged_out" and self._started
                and self.agent_state(agent.id) != "logged_out"):
            await self._recall_offers(agent)
        aid, now = str(agent.id), self._clock()
        offers: list[Offer] = []
        async with self._lock:
            if self._started:  # before start, the presence just saved is what start reads
                logged_in = self.agent_state(agent.id) != "logged_out"
                if presence == "logged_out":
                    if logged_in:
                        offers = self.router.agent_logout(aid, now)
                else:
                    if not logged_in:
                        offers += self.router.agent_login(self._router_agent(agent), now,
                                                          holding=await self._handled(agent.id))
                    if presence == "ready":
                        offers += self.router.agent_ready(aid, now)
                    else:
                        offers += self.router.agent_not_ready(aid, now, reason=reason)
        await self._apply(offers)
        await self._sync_states()

    async def _recall_offers(self, agent: Agent) -> None:
        """She logs out with offers pending (a chat on her page, her phone ringing): each
        ends as if she had refused it, not her miss, before routing forgets her.  Else
        routing would hand the contact on while the database still has it offered to her:
        the next agent held by an offer nobody presents, and charged with her miss."""
        async with self._sessions() as s:
            offered = list(await s.scalars(select(Contact).where(
                Contact.tenant_id == agent.tenant_id, Contact.state == State.OFFERED,
                Contact.agent_id == agent.id)))
        for contact in offered:
            if self._role.presents_here(contact):
                await self.recall(contact, agent)
            else:  # a call another node's Asterisk carries: that node ends her ring
                await self._role.recall_elsewhere(contact, agent)

    async def _handled(self, agent_id: int) -> list[tuple[WorkItem, float]]:
        """What she still handles as she logs in (chats accepted before she logged out or
        her page's node died, a call she stayed on): hers again, filling her slots."""
        async with self._sessions() as s:
            rows = await repo.handled_rows(
                s, agent_id, None if self._role.routes_all_nodes else self._node)
        return [(item, since) for item, since in handled_items(rows)
                if not self.router.routes(item.id)]

    async def set_engaged(self, agent_id: int, engaged: bool) -> None:
        """The agent is on a call the queue did not offer her (consulted, in a conference):
        no queued work for her until it ends; then ready again, unless she chose otherwise."""
        aid, now = str(agent_id), self._clock()
        if not self._role.leads():  # (several nodes: a call this node carries)
            await self._role.tell_leader("engaged", agent_id=agent_id, engaged=engaged)
        async with self._lock:
            if not self._started:  # a call rebuilt before the router is: start() takes it
                (self._engaged_early.add if engaged else self._engaged_early.discard)(agent_id)
                return
            try:
                offers = (self.router.agent_engaged(aid, now) if engaged
                          else self.router.agent_disengaged(aid, now))
            except RoutingError:  # she logged out meanwhile
                offers = []
        await self._apply(offers)

    def page_changed(self, agent_id: int) -> None:
        """The agent's first page opened or her last one closed (the hub's watcher; with
        several nodes, also told by the cluster of other nodes' pages)."""
        if not self._closed:
            self._tasks.spawn(self._page_update(agent_id), f"page-{agent_id}")

    async def _page_update(self, agent_id: int) -> None:
        """Her page media slots follow whether a page of hers is open now (read now, so
        updates running late or out of order still end on the current state)."""
        if agent_id in self._page_lost and self.pages.connected(agent_id):
            await self._page_back(agent_id)
            return
        agent = self._agents.get(agent_id)
        offers: list[Offer] = []
        async with self._lock:
            # Before start, start() reads the open pages itself.
            if agent is not None and self._started and self.agent_state(agent_id) != "logged_out":
                opened = self.pages.connected(agent_id)
                log.info("agent %s: page %s", agent_id, "open" if opened else "closed")
                # The page's hello told her state: no second message for it (another
                # node's page was told what that node knows: told again from here).
                if opened:
                    (self.states.unknown if self._role.routes_all_nodes
                     else self.states.shown)(agent_id)
                offers = self.router.agent_update(self._router_agent(agent), self._clock())
        await self._apply(offers)

    async def page_lost(self, agent_id: int) -> None:
        """Her pages went with a node that died (several nodes): what was offered to her goes
        back to its place in the queue with no miss counted (she did nothing wrong), and she
        is logged out of routing, so shown, until a page of hers opens again on any node
        (:meth:`_page_update`); the presence she chose stays saved."""
        async with self._sessions() as s:
            offered = list(await s.scalars(select(Contact.id).where(
                Contact.state == State.OFFERED, Contact.agent_id == agent_id)))
            # Taken on that node, which died before telling the router: hers, not to be
            # offered to another as her logout frees it.
            taken = list(await s.scalars(select(Contact.id).where(
                Contact.state == State.CONNECTED, Contact.agent_id == agent_id)))

        def requeued(s: Session) -> None:
            for contact_id in offered:
                row = repo.get_sync(s, contact_id)
                if row is not None and row.state == State.OFFERED and row.agent_id == agent_id:
                    repo.apply_sync(s, row, Fact.DECLINED, at=utc(self._clock()),
                                    agent_id=None, agent_channel_id=None)

        def requeued_and_lost(s: Session) -> None:
            requeued(s)
            agents_repo.set_page_lost_sync(s, [agent_id], True)  # (for a next leader too)

        await self.writes.run(requeued_and_lost)  # saved first: new offers find them queued
        offers: list[Offer] = []
        async with self._lock:
            if self._started and self.agent_state(agent_id) != "logged_out":
                log.warning("agent %s: her page's node is gone; logged out until it is back",
                            agent_id)
                for contact_id in taken:
                    if self.router.offered_to(contact_id) == str(agent_id):
                        offers += self.router.accept(contact_id, self._clock())
                offers += self.router.agent_logout(str(agent_id), self._clock())
                self._page_lost.add(agent_id)
        await self._apply(offers)
        await self._push_state(agent_id, offer=None)

    async def _page_back(self, agent_id: int) -> None:
        """A page of hers opened again after her node died: logged in with her saved
        presence (unless she logged out meanwhile)."""
        self._page_lost.discard(agent_id)
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        await self.writes.run(lambda s: agents_repo.set_page_lost_sync(s, [agent_id], False))
        async with self._sessions() as s:
            row = await agents_repo.get(s, agent.tenant_id, agent_id)
        if row is not None and row.presence in ("ready", "not_ready"):
            log.info("agent %s: a page of hers is back", agent_id)
            await self.route_presence(row, row.presence, reason=saved_reason(row))

    def phone_reachable(self, agent_id: int) -> bool:
        agent = self._agents.get(agent_id)
        return agent is None or agent.phone_username not in self._unreachable

    async def set_unreachable_phones(self, usernames: frozenset[str]) -> None:
        """Asterisk's view of the agents' phones now.  An agent whose phone is unreachable
        keeps the presence they chose but is offered no calls until it answers again."""
        async with self._lock:
            flipped = self._unreachable ^ usernames
            self._unreachable = usernames
            changed = [a for a in self._agents.values() if a.phone_username in flipped]
            offers: list[Offer] = []
            if self._started:  # before start, start() reads the set itself
                for agent in changed:
                    if self.agent_state(agent.id) != "logged_out":
                        offers += self.router.agent_update(self._router_agent(agent), self._clock())
        for agent in changed:
            reachable = self.phone_reachable(agent.id)
            log.info("agent %s: phone %s %s", agent.id, agent.phone_username,
                     "reachable" if reachable else "unreachable")
            await self._hub.send(agent.id, {"type": "phone", "reachable": reachable})
        await self._apply(offers)

    async def voice_room_changed(self, site_ids: set[int | None]) -> None:
        """The bandwidth left on these sites changed: their agents whose room for a call
        came or went get voice offers again, or none."""
        async with self._lock:
            offers: list[Offer] = []
            if self._started:  # before start, start() asks for each agent itself
                now = self._clock()
                for agent in list(self._agents.values()):
                    if agent.site_id not in site_ids or self.agent_state(agent.id) == "logged_out":
                        continue
                    if self.voice_room(agent) == (agent.id in self._roomless):  # it flipped
                        log.info("agent %s: %s for a call at her site", agent.id,
                                 "room" if agent.id in self._roomless else "no room")
                        offers += self.router.agent_update(self._router_agent(agent), now)
        await self._apply(offers)

    def held_back_for(self, agent_id: int) -> list[str]:
        """The waiting calls the agent's capacity is held back for (fair blending: no new
        chats or e-mails for her until they are placed); empty when none."""
        return list(self.router.agent_kept_for(str(agent_id)))
