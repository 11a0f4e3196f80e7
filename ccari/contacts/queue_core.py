"""The universal queue's core: the routing core under one lock, rebuilt from the database.

The routing core (``ccari.routing``) decides; this records each decision in the database
(save first), then asks the medium's deliverer to act on it (ring the agent's phone, push a
chat...).  All router calls go through one lock so decisions are made from one consistent
state; delivery happens outside the lock.  The agents' side is in
:mod:`ccari.contacts.queue_agents`, the contacts' side in :mod:`ccari.contacts.services`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari import heap, logs
from ccari.agents import repo as agents_repo
from ccari.agents.notifier import AgentHub, Pages
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.role import RoutingRole, SingleNode
from ccari.contacts.routing import hold_offs, restore_args, router_agent
from ccari.contacts.states import AgentStates
from ccari.routing import Agent as RouterAgent
from ccari.routing import AgentState, AwayReason, Medium, Offer, Router, RoutingError, Rules
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Agent, Contact
from ccari.tasks import TaskSet
from ccari.tenants import repo as tenants_repo

log = logging.getLogger(__name__)


def saved_reason(agent: Agent) -> AwayReason | None:
    """Why ccari made her not ready, as saved with her presence; None when she chose it."""
    return AwayReason.of(agent.away_reason) if agent.presence == "not_ready" else None


class Deliverer(Protocol):
    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """Start presenting ``contact`` to ``agent`` (ring the phone, open the chat...)."""


@runtime_checkable
class Recaller(Protocol):
    async def recall(self, contact: Contact, agent: Agent) -> None:
        """End the pending offer of ``contact`` to ``agent`` as if she had refused it, not
        her miss (she logs out): no longer shown nor rung, the contact back in its place."""


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class QueueCore:
    """The router and what it needs of the rows; the agents' and the contacts' sides are
    built on it (:class:`ccari.contacts.services.QueueService`)."""

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
        # Agents whose timed wrap-up end is saved (agents.wrap_until), with that end: the
        # saved value is cleared once the router's wrap-up is over (_forget_wrap_ups).
        self._wrapping: dict[int, float] = {}
        # Whether this node routes, and whom it tells if not (several nodes: attach_role).
        self._role: RoutingRole = SingleNode(hub)
        self._ticker_task: asyncio.Task[Any] | None = None
        # Rebuilding the router from the database after an offer it made was not saved.
        self._rebuilding: asyncio.Task[Any] | None = None
        self._rebuild_due = False

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
    async def start(self, *, offers_kept: bool = False) -> None:
        """Rebuild the router from the database: the store is the record of truth.

        Before this runs (while the voice side reconciles with Asterisk, or a mail intake
        already accepts mail) router calls are skipped: what they would change is in the
        database that this reads.  The read and the restore happen under the lock, so a
        contact saved meanwhile is either read here or routed right after.

        An offer pending on an agent page when the previous process ended lived only in
        that process (its page message and its timer): the contact goes back to the queue
        in its place, to be offered again, and the agent is not held by it.  ``offers_kept``
        (several nodes: the leader reads again what it missed while its bus was away; its
        old router is emptied, its fence renewed): this process made the pending offers and
        still shows and times them, so they are restored as offers.

        What it builds lives as long as the process: built without the cyclic garbage
        collector's passes, then frozen (:mod:`ccari.heap`)."""
        async with self._lock:
            if self._started or not self._role.leads():  # (rebuilt already; deposed meanwhile)
                return
            with heap.long_lived():
                now = self._clock()
                async with self._sessions() as s:
                    roster = await agents_repo.roster(s)
                    open_ = await repo.routed_rows(
                        s, None if self._role.routes_all_nodes else self._node)
                    holds = await tenants_repo.blend_holds(s)
                    rules = self.router.rules
                    horizon = max(rules.missed_offer_delay, rules.reoffer_delay)
                    declines = (await repo.recent_declines(s, utc(now - horizon))
                                if horizon > 0 else [])
                    if not offers_kept:
                        await repo.requeue_lapsed(s, open_, self._page_media, at=utc(now))
                for agent, attributes in roster:
                    self._agents[agent.id] = agent
                    self._attributes[agent.id] = attributes
                # Her pages gone with a node that died: logged out until one is back (as
                # this node saw it, or as the leader that saw it saved it).
                lost = self._page_lost | {a.id for a, _ in roster if a.page_lost}
                self._page_lost = {a for a in lost if not self.pages.connected(a)}
                back = sorted(lost - self._page_lost)  # open again since: no longer lost
                agents = [agent for agent, _ in roster if agent.id not in self._page_lost
                          and agent.presence in ("ready", "not_ready")]
                in_progress, waiting, offered = restore_args(
                    open_, {str(a.id) for a in agents}, offers_kept=offers_kept)
                for tenant_id, hold in sorted(holds.items()):  # the router is empty: no offers
                    self.router.set_hold_after(str(tenant_id), hold, now)
                # On a call rebuilt before this (a consult, a conference): restored away,
                # then marked in a call, so that its end makes her ready again.
                engaged = {str(a.id) for a in agents
                           if a.id in self._engaged_early and a.presence == "ready"}
                # In a timed wrap-up: kept in it until its saved end (over at once if passed;
                # its saved end is then cleared with the first states synced).
                self._wrapping = {a.id: a.wrap_until.timestamp() for a in agents
                                  if a.presence == "ready" and a.wrap_until is not None
                                  and str(a.id) not in engaged}
                offers = self.router.restore(
                    now,
                    agents=[(self._router_agent(a), self._saved_state(a, engaged))
                            for a in agents],
                    in_progress=in_progress, waiting=waiting, offered=offered,
                    excluded=hold_offs(declines, reoffer_delay=rules.reoffer_delay,
                                       missed_offer_delay=rules.missed_offer_delay, now=now),
                    reasons={str(a.id): reason for a in agents
                             if (reason := saved_reason(a)) is not None},
                    wrap_until={str(a): until for a, until in self._wrapping.items()},
                )
                for aid in sorted(engaged):
                    offers += self.router.agent_engaged(aid, now)
                self._engaged_early.clear()
            self._started = True
        await self._apply(offers)
        if back:
            await self.writes.run(lambda s: agents_repo.set_page_lost_sync(s, back, False))
        self._ticker_task = self._tasks.spawn(self._ticker(), "ticker")

    def _saved_state(self, agent: Agent, engaged: set[str]) -> AgentState:
        """Her state as the database has it, for :meth:`start` (ready, not ready, or in the
        timed wrap-up that followed her last contact)."""
        if str(agent.id) in engaged:
            return AgentState.NOT_READY
        if agent.id in self._wrapping:
            return AgentState.WRAP_UP
        return AgentState(agent.presence)

    async def stop_routing(self) -> None:
        """This node no longer routes (it lost the cluster's leadership, or rebuilds): the
        router is emptied; :meth:`start` rebuilds it from the database if it leads again.
        An agent on a call it did not place stays away from work when it is rebuilt."""
        async with self._lock:
            if self._started:
                self._engaged_early |= {a for a in self._agents if self.router.agent_reason(
                    str(a)) is AwayReason.IN_CALL}
            self._started = False
            self.router = Router(self.router.rules)
            self._wrapping.clear()  # (saved: a rebuild reads them again)
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

    # ---- agents as routing sees them ---------------------------------------------------
    def _router_agent(self, agent: Agent) -> RouterAgent:
        room = self.voice_room(agent)
        if room:
            self._roomless.discard(agent.id)
        else:
            self._roomless.add(agent.id)
        return router_agent(agent, phone=room and agent.phone_username not in self._unreachable,
                            page=self.pages.connected(agent.id), page_media=self._page_media,
                            attributes=self._attributes.get(agent.id))

    def agent_state(self, agent_id: int) -> str:
        """Her state in routing (this node's router, or the leader's as told to this node)."""
        if not self._started and (known := self._role.known_state(agent_id)) is not None:
            return known[0]
        try:
            return str(self.router.agent_state(str(agent_id)))
        except RoutingError:
            return "logged_out"

    def agent_reason(self, agent_id: int) -> str | None:
        """Why the agent is not ready when ccari made it so (``missed_offer``), else None."""
        if not self._started and (known := self._role.known_state(agent_id)) is not None:
            return known[1]
        reason = self.router.agent_reason(str(agent_id))
        return None if reason is None else reason.value

    def known_agents(self) -> list[int]:
        """The agents this node's router was given (all, while it routes)."""
        return sorted(self._agents)

    async def _push_state(self, agent_id: int, **extra: Any) -> None:
        await self.states.push(self.pages, agent_id, **extra)

    async def _sync_states(self) -> None:
        if self._started:  # a router not rebuilt (or not this node's) knows no states
            await self._forget_wrap_ups()
            await self.states.sync(self.pages, self.router.touched_agents, self._agents)

    async def _save_wrap_up(self, agent_id: int) -> None:
        """Her timed wrap-up, if the router just began one, saved with its end: what a
        rebuilt router restores."""
        until = self.router.agent_wrap_until(str(agent_id))
        agent = self._agents.get(agent_id)
        if until is None or agent is None:
            return
        self._wrapping[agent_id] = until
        await self.writes.run(functools.partial(
            agents_repo.set_wrap_until_sync, tenant_id=agent.tenant_id, agent_id=agent_id,
            until=utc(until)))

    async def _forget_wrap_ups(self) -> None:
        """The saved ends of the wrap-ups the router has ended (at their time, or by a
        presence or a logout) cleared."""
        over = {a: until for a, until in self._wrapping.items()
                if self.router.agent_wrap_until(str(a)) != until}
        if not over:
            return
        for agent_id in over:
            del self._wrapping[agent_id]

        def clear(s: Session) -> None:
            for agent_id, until in over.items():
                agent = self._agents.get(agent_id)
                if agent is not None:
                    agents_repo.clear_wrap_until_sync(s, agent.tenant_id, agent_id, utc(until))

        await self.writes.run(clear)

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
                if not self._role.fence(s) or not self._started or (
                        self.router.offered_to(item_id) != str(agent_id)):
                    return None  # a router this node no longer leads, or since rebuilt
                return repo.apply_sync(s, contact, Fact.OFFERED, at=utc(self._clock()),
                                       agent_id=agent_id, offer_count=contact.offer_count + 1)

            try:
                contact = await self.writes.run(offered) if agent is not None else None
            except Exception as exc:
                # The router holds an offer the database does not (an outage, a lock timed
                # out): the agent would stay reserved, the contact unoffered.  The router
                # takes the database's word again; the offers after this one are its.
                log.warning("offer for %s to agent %s not saved (%s): routing is rebuilt "
                            "from the database", offer.item_id, agent_id, type(exc).__name__)
                self._rebuild_soon()
                return
            if contact is None or agent is None:
                log.warning("offer for %s to agent %s is stale", offer.item_id, agent_id)
                continue
            with logs.contact(contact.id, contact.tenant_id):  # and its delivery's lines
                log.info("contact %s offered to agent %s", contact.id, agent_id)
                if self._role.presents_here(contact):
                    self.present(contact, agent)
                else:  # a call another node's Asterisk carries: that node rings the agent
                    self._tasks.spawn(self._role.present_elsewhere(contact, agent),
                                      f"deliver-{contact.id}")
        self._wake.set()
        try:
            await self._sync_states()
        except Exception as exc:  # what was decided stands; the next sync tells the pages
            log.warning("queue: agents' states not synced (%s)", type(exc).__name__)

    def present(self, contact: Contact, agent: Agent) -> None:
        """Hand the saved offer of ``contact`` to ``agent`` to its medium's deliverer (this
        node's: for a call, the node whose Asterisk carries it)."""
        deliverer = self._deliverers.get(contact.medium)
        if deliverer is None:
            log.error("no deliverer for medium %s", contact.medium)
            return
        self._tasks.spawn(deliverer.deliver(contact, agent), f"deliver-{contact.id}")

    def _rebuild_soon(self) -> None:
        self._rebuild_due = True
        if self._rebuilding is None or self._rebuilding.done():
            self._rebuilding = self._tasks.spawn(self._rebuild(), "rebuild")

    async def _rebuild(self, first_s: float = 0.5, most_s: float = 10.0) -> None:
        """The router rebuilt from the database (its pending offers kept: this process shows
        and times them), as soon as the database answers again: until a rebuild's own
        offers are saved."""
        delay = first_s
        while self._rebuild_due and not self._closed:
            self._rebuild_due = False
            await asyncio.sleep(delay)
            try:
                await self.stop_routing()
                await self.start(offers_kept=True)
            except Exception as exc:
                self._rebuild_due = True
                log.warning("queue: routing not rebuilt yet (%s); again in %.1f s",
                            type(exc).__name__, delay)
            else:
                log.warning("queue: routing rebuilt from the database")
            delay = min(delay * 2, most_s)

    async def recall(self, contact: Contact, agent: Agent) -> None:
        """End the pending offer of ``contact`` to ``agent`` here, by what presents it (a
        deliverer that cannot: the offer runs its course)."""
        deliverer = self._deliverers.get(contact.medium)
        if isinstance(deliverer, Recaller):
            await deliverer.recall(contact, agent)

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
            try:
                async with self._lock:
                    offers = self.router.tick(self._clock())
                await self._apply(offers)
            except Exception:  # (a state not saved): the next due step still comes
                log.exception("queue: a scheduled routing step failed")
                await asyncio.sleep(1.0)
