"""The universal queue: the routing core plus persistence, agent presence and delivery.

The routing core (``ccari.routing``) decides; this service records each decision in the
database (save first), then asks the medium's deliverer to act on it (ring the agent's
phone, push a chat...).  All router calls go through one lock so decisions are made from
one consistent state; delivery happens outside the lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari import heap, logs
from ccari.agents import repo as agents_repo
from ccari.agents.notifier import AgentHub, Pages
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.role import RoutingRole, SingleNode
from ccari.contacts.routing import restore_args, router_agent, work_item
from ccari.contacts.states import AgentStates
from ccari.errors import NotFound
from ccari.routing import Agent as RouterAgent
from ccari.routing import (
    AgentState,
    Medium,
    Offer,
    Router,
    RoutingError,
    Rules,
)
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Agent, Contact
from ccari.tasks import TaskSet
from ccari.tenants import repo as tenants_repo

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """Start presenting ``contact`` to ``agent`` (ring the phone, open the chat...)."""


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@dataclass(frozen=True)
class QueueView:
    position: int
    predicted_wait_s: float


class QueueService:
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
        self._sessions = sessions
        # The shared commits of the hot path (offers here; calls and admission join them).
        self.writes = writes or GroupCommit(sessions, name="queue")
        self._hub = hub
        self._node = node
        self._clock = clock
        self.router = Router(rules or Rules())
        self._started = False
        self._lock = asyncio.Lock()
        self._deliverers: dict[str, Deliverer] = {}
        self._tasks = TaskSet("queue")
        self._wake = asyncio.Event()
        # Agent rows (phone, tenant, skills) by id: the router holds ids, offers need the rows.
        self._agents: dict[int, Agent] = {}
        # Their routing attributes (rows read at start leave their skills unloaded).
        self._attributes: dict[int, agents_repo.Attributes] = {}
        # Phones Asterisk reports unreachable (ccari.agents.phones): their agents get no calls.
        self._unreachable: frozenset[str] = frozenset()
        # Whether an agent's site has room for one more call (ccari.sites' bandwidth): an
        # agent without is offered no voice, like one whose phone is unreachable.
        self.voice_room: Callable[[Agent], bool] = lambda agent: True
        self._roomless: set[int] = set()
        # Media presented on the agent page: offered only to agents with a page open.
        self._page_media: set[Medium] = set()
        self._closed = False
        # Her state told to her pages and to the state watchers (the reports' state log).
        self.states = AgentStates(lambda a: (self.agent_state(a), self.agent_reason(a)), clock)
        self.state_watchers = self.states.watchers
        # Agents a rebuilt call engaged before the router was rebuilt (see set_engaged).
        self._engaged_early: set[int] = set()
        # Agents logged out of routing because their pages' node died (page_lost).
        self._page_lost: set[int] = set()
        hub.watch(self.page_changed)
        # Whether this node routes, and whom it tells if not (several nodes: attach_role).
        self._role: RoutingRole = SingleNode(hub)
        self._ticker_task: asyncio.Task[Any] | None = None

    def attach_role(self, role: RoutingRole) -> None:
        """Several nodes (``ccari.cluster``): this node's part in routing, given once, before
        :meth:`start`."""
        if self._started:
            raise RuntimeError("the routing role is attached before the queue starts")
        self._role = role

    @property
    def pages(self) -> Pages:
        """The agent pages routing tells of offers and states (every node's, if several)."""
        return self._role.pages

    def register(self, medium: str, deliverer: Deliverer, *, on_page: bool = False) -> None:
        """``deliverer`` presents ``medium``; ``on_page``: on the agent page, so only agents
        with a page open are offered it (the others keep their other media)."""
        self._deliverers[medium] = deliverer
        if on_page:
            self._page_media.add(Medium(medium))

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Rebuild the router from the database: the store is the record of truth.

        Before this runs (while the voice side reconciles with Asterisk, or a mail intake
        already accepts mail) router calls are skipped: what they would change is in the
        database that this reads.  The read and the restore happen under the lock, so a
        contact saved meanwhile is either read here or routed right after.

        An offer pending on an agent page when the previous process ended lived only in
        that process (its page message and its timer): the contact goes back to the queue
        in its place, to be offered again, and the agent is not held by it.

        What it builds lives as long as the process: built without the cyclic garbage
        collector's passes, then frozen (:mod:`ccari.heap`)."""
        async with self._lock:
            with heap.long_lived():
                now = self._clock()
                async with self._sessions() as s:
                    roster = await agents_repo.roster(s)
                    open_ = await repo.routed_rows(
                        s, None if self._role.routes_all_nodes else self._node)
                    holds = await tenants_repo.blend_holds(s)
                    await repo.requeue_lapsed(s, open_, self._page_media, at=utc(now))
                in_progress, waiting = restore_args(open_)
                for agent, attributes in roster:
                    self._agents[agent.id] = agent
                    self._attributes[agent.id] = attributes
                agents = [agent for agent, _ in roster]
                for tenant_id, hold in sorted(holds.items()):  # the router is empty: no offers
                    self.router.set_hold_after(str(tenant_id), hold, now)
                # On a call rebuilt before this (a consult, a conference): restored away,
                # then marked in a call, so that its end makes her ready again.
                engaged = {str(a.id) for a in agents
                           if a.id in self._engaged_early and a.presence == "ready"}
                offers = self.router.restore(
                    now,
                    agents=[(self._router_agent(a), AgentState.NOT_READY if str(a.id) in engaged
                             else AgentState(a.presence)) for a in agents
                            if a.presence in ("ready", "not_ready")],
                    in_progress=in_progress,
                    waiting=waiting,
                )
                for aid in sorted(engaged):
                    offers += self.router.agent_engaged(aid, now)
                self._engaged_early.clear()
            self._started = True
        await self._apply(offers)
        self._ticker_task = self._tasks.spawn(self._ticker(), "ticker")

    async def stop_routing(self) -> None:
        """This node no longer routes (it lost the cluster's leadership): the router is
        emptied; :meth:`start` rebuilds it from the database if it leads again."""
        async with self._lock:
            self._started = False
            self.router = Router(self.router.rules)
            self._page_lost.clear()
            if self._ticker_task is not None:
                self._ticker_task.cancel()
                self._ticker_task = None
            heap.release()  # the old router's objects are the collector's again
        log.info("queue: this node no longer routes")

    async def _decide(self, fn: Callable[..., list[Offer]], *args: Any, **kw: Any) -> None:
        """Ask the router, then act on its offers.  Stale ids (a contact that ended while
        an event was in flight) are expected and only logged."""
        async with self._lock:
            if not self._started:
                return
            try:
                offers = fn(*args, **kw)
            except RoutingError as exc:
                log.debug("router: %s", exc)
                return
        await self._apply(offers)

    async def close(self) -> None:
        self._closed = True
        await self._tasks.close()
        heap.release()

    # ---- work --------------------------------------------------------------------------
    async def enqueue(self, contact: Contact) -> None:
        """``contact`` is already saved as queued; route it."""
        if not self._role.leads():
            await self._role.tell_leader("enqueue", contact_id=contact.id)
            return
        await self._decide(self.router.add_item, work_item(contact), self._clock())

    async def withdraw(self, contact_id: str) -> None:
        """The contact left (caller hung up, chat closed): forget it, free any reservation."""
        if not self._role.leads():
            await self._role.tell_leader("withdraw", contact_id=contact_id)
            return
        await self._decide(self.router.remove_item, contact_id, self._clock())

    async def accepted(self, contact_id: str) -> None:
        if not self._role.leads():
            await self._role.tell_leader("accepted", contact_id=contact_id)
            return
        await self._decide(self.router.accept, contact_id, self._clock())

    async def offer_failed(self, contact: Contact, *, missed: bool = False) -> None:
        """The agent did not take the offer: the contact goes back to its place in the queue.

        ``missed``: the offer lapsed unanswered, whatever the medium.  The router's one rule
        for that (``Router.reject``: the agent not ready with the reason missed offer, the
        contact kept from them a while) is applied, and the agent's new presence saved."""
        agent_id = contact.agent_id

        def declined(s: Session) -> None:
            row = repo.get_sync(s, contact.id)
            # (the same offer: not one another node's router made since)
            if (row is not None and row.state == State.OFFERED
                    and agent_id in (None, row.agent_id)):
                repo.apply_sync(s, row, Fact.DECLINED, at=utc(self._clock()), agent_id=None,
                                agent_channel_id=None)

        await self.writes.run(declined)
        if not self._role.leads():
            await self._role.tell_leader("declined", contact_id=contact.id,
                                         tenant_id=contact.tenant_id, agent_id=agent_id,
                                         missed=missed)
            return
        await self.route_declined(contact.id, contact.tenant_id, agent_id, missed=missed)

    async def route_declined(self, contact_id: str, tenant_id: int, agent_id: int | None, *,
                             missed: bool) -> None:
        """The router's part of :meth:`offer_failed` (the decline is saved)."""
        await self._decide(self.router.reject, contact_id, self._clock(), missed=missed)
        if agent_id is None:
            return
        if missed and self.agent_state(agent_id) == AgentState.NOT_READY:
            # What the router decided is what a restart restores.
            await self.writes.run(functools.partial(
                agents_repo.set_presence_sync, tenant_id=tenant_id, agent_id=agent_id,
                presence=AgentState.NOT_READY.value))
        await self._push_state(agent_id, offer=None)

    async def completed(self, contact_id: str, agent_id: int | None, wrap_up_s: float) -> None:
        # The router ends the wrap-up itself after wrap_up_s (a deadline the ticker honours).
        if not self._role.leads():
            await self._role.tell_leader("completed", contact_id=contact_id, agent_id=agent_id,
                                         wrap_up_s=wrap_up_s)
            return
        await self._decide(self.router.complete, contact_id, self._clock(),
                           wrap_up=wrap_up_s if wrap_up_s > 0 else False)
        if agent_id is not None:
            await self._push_state(agent_id, offer=None)

    async def reprioritise(self, tenant_id: int, contact_id: str, priority: int) -> Contact:
        """A supervisor moves a waiting contact up or down (higher priority first)."""
        contact = await self._save_waiting(tenant_id, contact_id, "priority", priority=priority)
        await self._decide(self.router.update_priority, contact_id, priority, self._clock())
        return contact

    async def reschedule(self, tenant_id: int, contact_id: str, not_before: float | None) -> Contact:
        """Not routed before ``not_before`` (None: at once), e.g. a callback moved earlier."""
        contact = await self._save_waiting(tenant_id, contact_id, "rescheduled", not_before=(
            utc(not_before) if not_before is not None else None))
        await self._decide(self.router.reschedule, contact_id, not_before, self._clock())
        return contact

    async def _save_waiting(self, tenant_id: int, contact_id: str, kind: str,
                            **fields: Any) -> Contact:
        async with self._sessions() as s:
            contact = await repo.get(s, contact_id, tenant_id, for_update=True)
            if contact is None or contact.state not in ("queued", "offered"):
                raise NotFound("no such waiting contact", error_id="contact-not-waiting")
            await repo.update(s, contact, kind, at=utc(self._clock()), **fields)
            await s.commit()
        return contact

    # ---- agents ------------------------------------------------------------------------
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

    async def route_presence(self, agent: Agent, presence: str) -> None:
        """The router's part of :meth:`set_presence` (the presence is saved)."""
        self._agents[agent.id] = agent
        attributes = agents_repo.attributes_of(agent)
        if attributes is not None:  # else the ones read at start still hold
            self._attributes[agent.id] = attributes
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
                        offers += self.router.agent_login(self._router_agent(agent), now)
                    if presence == "ready":
                        offers += self.router.agent_ready(aid, now)
                    else:
                        offers += self.router.agent_not_ready(aid, now)
        await self._apply(offers)
        await self._sync_states()

    async def set_engaged(self, agent_id: int, engaged: bool) -> None:
        """The agent is on a call the queue did not offer her (consulted, in a conference):
        no queued work for her until it ends; then ready again, unless she chose otherwise."""
        aid, now = str(agent_id), self._clock()
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

    def _router_agent(self, agent: Agent) -> RouterAgent:
        room = self.voice_room(agent)
        if room:
            self._roomless.discard(agent.id)
        else:
            self._roomless.add(agent.id)
        return router_agent(agent, phone=room and agent.phone_username not in self._unreachable,
                            page=self.pages.connected(agent.id), page_media=self._page_media,
                            attributes=self._attributes.get(agent.id))

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

        def requeued(s: Session) -> None:
            for contact_id in offered:
                row = repo.get_sync(s, contact_id)
                if row is not None and row.state == State.OFFERED and row.agent_id == agent_id:
                    repo.apply_sync(s, row, Fact.DECLINED, at=utc(self._clock()),
                                    agent_id=None, agent_channel_id=None)

        await self.writes.run(requeued)  # saved first: the router's new offers find them queued
        offers: list[Offer] = []
        async with self._lock:
            if self._started and self.agent_state(agent_id) != "logged_out":
                log.warning("agent %s: her page's node is gone; logged out until it is back",
                            agent_id)
                offers = self.router.agent_logout(str(agent_id), self._clock())
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
        async with self._sessions() as s:
            row = await agents_repo.get(s, agent.tenant_id, agent_id)
        if row is not None and row.presence in ("ready", "not_ready"):
            log.info("agent %s: a page of hers is back", agent_id)
            await self.route_presence(row, row.presence)

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

    def agent_state(self, agent_id: int) -> str:
        try:
            return str(self.router.agent_state(str(agent_id)))
        except RoutingError:
            return "logged_out"

    def agent_reason(self, agent_id: int) -> str | None:
        """Why the agent is not ready when ccari made it so (``missed_offer``), else None."""
        reason = self.router.agent_reason(str(agent_id))
        return None if reason is None else reason.value

    def held_back_for(self, agent_id: int) -> list[str]:
        """The waiting calls the agent's capacity is held back for (fair blending: no new
        chats or e-mails for her until they are placed); empty when none."""
        return list(self.router.agent_kept_for(str(agent_id)))

    async def set_blend_hold(self, tenant_id: int, seconds: float | None) -> None:
        """The tenant's own fair-blending hold (0: off), or ``None`` for the default."""
        hold = self.router.rules.hold_after if seconds is None else seconds
        async with self._lock:
            offers = self.router.set_hold_after(str(tenant_id), hold, self._clock())
        await self._apply(offers)

    def forget_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: the router's knowledge of it and the rows of its agents go (a
        tenant still busy here is kept, and said so: the deletion checked it had no work)."""
        try:
            self.router.forget_tenant(str(tenant_id))
        except RoutingError as exc:
            log.warning("tenant %s deleted but not forgotten by the router: %s", tenant_id, exc)
            return
        gone = {a for a, row in self._agents.items() if row.tenant_id == tenant_id}
        for agent_id in gone:
            self._agents.pop(agent_id, None)
            self._attributes.pop(agent_id, None)
            self.states.forget(agent_id)
            self._roomless.discard(agent_id)

    def available_agents(self, tenant_id: int) -> int:
        """A in the trunk rule: the tenant's agents logged in and taking contacts (ready,
        reserved or busy; not those in not-ready or wrap-up)."""
        return self.router.taking_work(str(tenant_id))

    def view(self, contact_id: str) -> QueueView | None:
        """Position and predicted wait of a waiting contact (None once offered or gone)."""
        try:
            position = self.router.position(contact_id)
            if position is None:
                return None
            return QueueView(position, self.router.predicted_wait(contact_id, self._clock()).wait)
        except RoutingError:
            return None

    async def _push_state(self, agent_id: int, **extra: Any) -> None:
        await self.states.push(self.pages, agent_id, **extra)

    async def _sync_states(self) -> None:
        if self._started:  # a router not rebuilt (or not this node's) knows no states
            await self.states.sync(self.pages, self.router.touched_agents, self._agents)

    # ---- decisions ---------------------------------------------------------------------
    async def _apply(self, offers: list[Offer]) -> None:
        """Save each offer, then hand it to its medium's deliverer."""
        for offer in offers:
            agent_id = int(offer.agent_id)
            agent = self._agents.get(agent_id)

            def offered(s: Session, item_id: str = offer.item_id,
                        agent_id: int = agent_id) -> Contact | None:
                contact = repo.get_sync(s, item_id)
                if contact is None or contact.state != State.QUEUED:
                    return None
                if not self._role.fence(s):
                    return None  # a router this node no longer leads
                return repo.apply_sync(s, contact, Fact.OFFERED, at=utc(self._clock()),
                                       agent_id=agent_id, offer_count=contact.offer_count + 1)

            contact = await self.writes.run(offered) if agent is not None else None
            if contact is None or agent is None:
                log.warning("offer for %s to agent %s is stale", offer.item_id, agent_id)
                continue
            with logs.contact(contact.id, contact.tenant_id):  # and its delivery's lines
                log.info("contact %s offered to agent %s", contact.id, agent_id)
                deliverer = self._deliverers.get(contact.medium)
                if deliverer is None:
                    log.error("no deliverer for medium %s", contact.medium)
                    continue
                self._tasks.spawn(deliverer.deliver(contact, agent), f"deliver-{contact.id}")
        self._wake.set()
        await self._sync_states()

    async def _ticker(self) -> None:
        """Relaxation steps and scheduled times: call the router's tick when one is due."""
        while True:
            deadline = self.router.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
                continue
            except TimeoutError:
                pass
            async with self._lock:
                offers = self.router.tick(self._clock())
            await self._apply(offers)
