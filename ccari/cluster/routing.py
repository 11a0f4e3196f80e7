"""The cluster's :class:`~ccari.contacts.role.RoutingRole`: only the routing leader routes
(every node's contacts, offered to every node's agent pages), its offers fenced by its
epoch.  The other nodes save first, then tell the leader by reference over the bus, and it
reads the rest back from the database: contacts that came or went, an offer accepted or
declined on a page they serve, a contact completed there, a waiting contact reprioritised
or rescheduled, an agent's presence.

What the leader was told while its bus was away is lost: when its listener is back it reads
everything again, as an election does (:meth:`ClusterRole.catch_up`).

A call is rung by the node whose Asterisk carries it (the contact's ``node``): the leader
saves the offer, then tells that node to present it, by reference; that node reads the
offer back and rings the agent if the contact is still offered to her, at that offer.  Its
answer, or the agent's miss, reaches the leader as any follower's does.  A node whose bus
was away presents, once it listens again, the offers of its calls it may have missed (its
deliverer rings a call at most once per offer)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.agents import repo as agents_repo
from ccari.agents.notifier import AgentHub, Pages
from ccari.cluster.bus import Bus
from ccari.cluster.leader import Leadership, NotLeading
from ccari.cluster.pages import ClusterPages
from ccari.cluster.repo import holds_sync
from ccari.cluster.states import StatesView
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import State
from ccari.contacts.offers import PageOffers
from ccari.contacts.services import QueueService
from ccari.routing import CALLS as CALL_MEDIA
from ccari.routing import AwayReason, Medium
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)
TOPIC = "queue"
CALLS = "calls"  # the leader to the node carrying a call: ring the agent it is offered to


class ClusterRole:
    routes_all_nodes = True

    def __init__(self, leadership: Leadership, bus: Bus, sessions: async_sessionmaker[AsyncSession],
                 hub: AgentHub, queue: QueueService, offers: PageOffers) -> None:
        self._leadership = leadership
        self._bus = bus
        self._sessions = sessions
        self._queue = queue
        self._offers = offers
        self.cluster_pages = ClusterPages(hub, bus, sessions, changed=queue.page_changed,
                                          offers=offers)
        self.pages: Pages = self.cluster_pages
        self.states = StatesView(bus, leads=self.leads, agent_ids=queue.known_agents,
                                 state_of=lambda a: (queue.agent_state(a), queue.agent_reason(a)))
        queue.state_watchers.append(self.states.noted)
        bus.subscribe(TOPIC, self._told)
        bus.subscribe(CALLS, self._ring)
        bus.on_resync(self.catch_up)  # after the pages' own resync: their rows read first
        bus.on_resync(self._ring_missed)
        bus.on_resync(self.states.ask)

    async def pages_lost(self, node: str, agent_ids: list[int]) -> None:
        """``node`` died (ccari.cluster.nodes): its pages are gone.  An agent left with no
        page anywhere has her offers withdrawn (no miss counted: she did nothing wrong) and
        is logged out of routing until a page of hers opens again, on any node."""
        await self.cluster_pages.forgotten(agent_ids)
        for agent_id in agent_ids:
            if not self.cluster_pages.connected(agent_id):
                self._offers.withdraw_from(agent_id)
                await self._queue.page_lost(agent_id)

    def leads(self) -> bool:
        return self._leadership.leading

    def known_state(self, agent_id: int) -> tuple[str, str | None] | None:
        return self.states.known(agent_id)

    async def elected(self) -> None:
        """This node leads: its router rebuilt, every node told its agents' states."""
        await self._queue.start()
        await self.states.tell_all()

    def fence(self, session: Session) -> bool:
        epoch = self._leadership.epoch
        return epoch is not None and holds_sync(session, self._leadership.name, epoch)

    async def catch_up(self) -> None:
        """The leader's bus was away: the router is rebuilt from the database, as at an
        election (every node's contacts, the agents' saved presence), in place.  Routing
        stops first (the old router's offers still on their way are then dropped), the
        epoch is renewed (which waits for the offers being saved: they are read), then the
        router is rebuilt with the pending offers kept (this node still shows and times
        them).  If that fails the node lets go of the lead: the next leader rebuilds."""
        if not self.leads():
            return  # a follower routes nothing: nothing to read again
        try:
            await self._queue.stop_routing()
            await self._leadership.renew()
            await self._queue.start(offers_kept=True)
        except NotLeading:
            log.info("cluster: deposed while catching up; the next election rebuilds")
        except Exception:
            log.exception("cluster: the leader could not catch up; letting go of the lead")
            self._leadership.let_go()

    async def tell_leader(self, what: str, **refs: Any) -> None:
        await self._bus.publish(TOPIC, {"do": what, **refs})

    # ---- calls carried by other nodes ------------------------------------------------------
    def presents_here(self, contact: Contact) -> bool:
        return contact.node == self._bus.node or not Medium(contact.medium).is_call

    async def present_elsewhere(self, contact: Contact, agent: Agent) -> None:
        await self._bus.publish(CALLS, {"node": contact.node, "contact_id": contact.id,
                                        "agent_id": agent.id, "offer": contact.offer_count})

    async def recall_elsewhere(self, contact: Contact, agent: Agent) -> None:
        await self._bus.publish(CALLS, {"node": contact.node, "contact_id": contact.id,
                                        "agent_id": agent.id, "offer": contact.offer_count,
                                        "recall": True})

    async def _ring(self, payload: dict[str, Any]) -> None:
        if payload.get("node") == self._bus.node:
            await self._present(str(payload["contact_id"]), int(payload["agent_id"]),
                                int(payload["offer"]), recall=bool(payload.get("recall")))

    async def _present(self, contact_id: str, agent_id: int, offer: int, *,
                       recall: bool = False) -> None:
        """Ring the agent if the call is still offered to her, at that offer (read back);
        ``recall``: end that ring instead (she logs out)."""
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id)
            if (contact is None or contact.state != State.OFFERED
                    or contact.agent_id != agent_id or contact.offer_count != offer):
                log.info("contact %s: no longer offered to agent %s", contact_id, agent_id)
                return
            agent = await agents_repo.get(s, contact.tenant_id, agent_id)
        if agent is None:
            return
        if recall:
            await self._queue.recall(contact, agent)
        else:
            self._queue.present(contact, agent)

    async def _ring_missed(self) -> None:
        """The bus was away: the offers of this node's calls made meanwhile are presented
        (one already rung is not rung again)."""
        async with self._sessions() as s:
            calls = await contacts_repo.open_contacts(s, self._bus.node, [m.value for m in CALL_MEDIA])
        for contact in calls:
            if contact.state == State.OFFERED and contact.agent_id is not None:
                await self._present(contact.id, contact.agent_id, contact.offer_count)

    async def _told(self, payload: dict[str, Any]) -> None:
        """What a follower saved and the router must hear (what a new leader reads anyway)."""
        if not self.leads():
            return
        what, queue = payload.get("do"), self._queue
        contact_id = str(payload.get("contact_id"))
        if what == "enqueue":
            async with self._sessions() as s:
                contact = await contacts_repo.get(s, contact_id)
            if contact is not None and contact.state == State.QUEUED:
                await queue.enqueue(contact)
        elif what == "withdraw":
            await queue.withdraw(contact_id)
        elif what == "accepted":
            self._offers.stop_timer(contact_id)
            await queue.accepted(contact_id)
        elif what == "declined":
            self._offers.stop_timer(contact_id)
            await queue.route_declined(contact_id, int(payload["tenant_id"]),
                                       _id(payload.get("agent_id")),
                                       missed=bool(payload.get("missed")))
        elif what == "completed":
            await queue.completed(contact_id, _id(payload.get("agent_id")),
                                  float(payload.get("wrap_up_s") or 0),
                                  away=AwayReason.of(payload.get("away")))
        elif what in ("priority", "schedule"):
            async with self._sessions() as s:
                contact = await contacts_repo.get(s, contact_id)
            if contact is not None and contact.state in (State.QUEUED, State.OFFERED):
                await (queue.route_priority if what == "priority" else queue.route_schedule)(
                    contact)  # as saved now (told late or out of order: still right)
        elif what == "engaged":
            await queue.set_engaged(int(payload["agent_id"]), bool(payload.get("engaged")))
        elif what == "presence":
            async with self._sessions() as s:
                agent = await agents_repo.get(s, int(payload["tenant_id"]),
                                              int(payload["agent_id"]))
            if agent is not None:  # her presence as saved now (told late: still right)
                await queue.route_presence(agent, agent.presence)
        else:
            log.warning("cluster: the leader was told %r, which it does not know", what)



def _id(value: object) -> int | None:
    return None if value is None else int(str(value))
