"""Every node's agent pages, as routing sees them (several nodes).

Each node records in ``cluster_agent_pages`` whether it serves a page of an agent (her
first page opened here, her last one closed), then tells the others "look" with her id;
they read the rows again.  So every node knows which agents have a page open somewhere,
and the leader's router offers page work to an agent whatever node serves her page.

What routing tells an agent's pages is sent to this node's sockets and, if another node
serves a page of hers, over the bus: as it is when it is small (a state, a withdrawal), by
reference for an offer (the contact's id: the node holding the socket rebuilds the screen
pop from the database, if the contact is still offered to her).  A node whose bus was away
tells its pages, once it listens again, the offers made to them meanwhile (with the time
left to accept each): otherwise they would lapse unseen, counted as her misses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import AgentHub
from ccari.cluster import repo
from ccari.cluster.bus import Bus, PayloadTooLarge
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import State
from ccari.contacts.offers import PageOffers
from ccari.contacts.queue_core import utc
from ccari.contacts.screenpop import screen_pop
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
TOPIC = "pages"


class ClusterPages:
    def __init__(self, hub: AgentHub, bus: Bus, sessions: async_sessionmaker[AsyncSession],
                 *, changed: Callable[[int], None], offers: PageOffers) -> None:
        """``changed(agent_id)``: whether another node serves a page of hers changed;
        ``offers``: what is offered on a page, and for how long."""
        self._hub = hub
        self._bus = bus
        self._node = bus.node
        self._sessions = sessions
        self._changed = changed
        self._offers = offers
        self._elsewhere: dict[int, set[str]] = {}  # agent id -> other nodes with her page
        self._lock = asyncio.Lock()  # this node's rows written one at a time
        self._tasks = TaskSet("cluster-pages")
        hub.watch(self._here_changed)
        bus.subscribe(TOPIC, self._told)
        bus.on_resync(self.load)
        bus.on_resync(self.announce)
        bus.on_resync(self.offers_missed)

    async def start(self) -> None:
        async with self._sessions() as s:
            await repo.forget_node(s, self._node)
            await s.commit()
        await self.load()

    async def close(self) -> None:
        """This node stops: its pages are no longer any node's (told while the bus is up)."""
        await self._tasks.close()
        here = self._hub.agent_ids()
        try:
            async with self._sessions() as s:
                await repo.forget_node(s, self._node)
                await s.commit()
            for agent_id in here:
                await self._bus.publish(TOPIC, {"k": "page", "a": agent_id})
        except Exception:  # the next start forgets them too
            log.warning("cluster: could not forget this node's pages", exc_info=True)

    async def load(self) -> None:
        """Every other node's pages, read again (at start; after the bus was away)."""
        async with self._sessions() as s:
            now = await repo.pages_elsewhere(s, self._node)
        was, self._elsewhere = self._elsewhere, now
        for agent_id in sorted(set(was) | set(now)):
            if was.get(agent_id) != now.get(agent_id):
                self._changed(agent_id)

    async def announce(self) -> None:
        """This node's pages, said again (after its listener was away: the leader may have
        taken it for dead and forgotten them, ccari.cluster.nodes)."""
        for agent_id in sorted(self._hub.agent_ids()):
            await self._record(agent_id)

    async def offers_missed(self) -> None:
        """What is offered now to the agents whose page is here, told to those pages again
        (after this node's listener was away: the leader's "offer" may be lost), each with
        the time left to accept it, counted from when it was made; one whose time is up is
        not.  A page that already shows an offer shows it once (it keys its work by the
        contact's id)."""
        here = [a for a in self._hub.agent_ids() if self._hub.connected(a)]
        if not here:
            return
        now = time.time()
        told: list[tuple[int, dict[str, Any], float]] = []
        async with self._sessions() as s:
            for contact, made in await contacts_repo.offered_to(s, here, self._offers.media):
                if made is None or contact.agent_id is None:
                    continue
                left = round(self._offers.accept_timeout_s - (now - made.timestamp()), 1)
                if left > 0:
                    told.append((contact.agent_id, await screen_pop(s, contact, utc(now)), left))
        for agent_id, pop, left in told:
            log.info("contact %s: told again to agent %s, %.1f s left to accept", pop["id"],
                     agent_id, left)
            await self._hub.send(agent_id, {"type": "offer", "contact": pop,
                                            "accept_within_s": left})

    async def forgotten(self, agent_ids: list[int]) -> None:
        """A dead node's rows of these agents were deleted: read again here, told to the
        others."""
        await self.load()
        for agent_id in agent_ids:
            await self._bus.publish(TOPIC, {"k": "page", "a": agent_id})

    # ---- Pages ---------------------------------------------------------------------------
    def connected(self, agent_id: int) -> bool:
        return self._hub.connected(agent_id) or bool(self._elsewhere.get(agent_id))

    def agent_ids(self) -> list[int]:
        return sorted(set(self._hub.agent_ids()) | set(self._elsewhere))

    async def send(self, agent_id: int, message: dict[str, Any]) -> None:
        await self._hub.send(agent_id, message)
        if not self._elsewhere.get(agent_id):
            return
        if message.get("type") == "offer":
            told = {"k": "offer", "a": agent_id, "c": message["contact"]["id"],
                    "w": message.get("accept_within_s")}
        else:
            told = {"k": "to", "a": agent_id, "m": message}
        try:
            await self._bus.publish(TOPIC, told)
        except PayloadTooLarge:
            log.error("agent %s: a %s message too large for the bus, not sent to her other "
                      "nodes", agent_id, message.get("type"))

    # ---- this node's pages ---------------------------------------------------------------
    def _here_changed(self, agent_id: int) -> None:
        self._tasks.spawn(self._record(agent_id), f"page-{agent_id}")

    async def _record(self, agent_id: int) -> None:
        """Saved as it is now (so updates running late or out of order end right), then
        told."""
        async with self._lock:
            async with self._sessions() as s:
                await repo.set_page(s, self._node, agent_id, self._hub.connected(agent_id))
                await s.commit()
        await self._bus.publish(TOPIC, {"k": "page", "a": agent_id})

    # ---- other nodes ---------------------------------------------------------------------
    async def _told(self, payload: dict[str, Any]) -> None:
        kind, agent_id = payload.get("k"), int(payload["a"])
        if kind == "page":
            async with self._sessions() as s:
                nodes = (await repo.pages_elsewhere(s, self._node, agent_id)).get(agent_id)
            if nodes:
                self._elsewhere[agent_id] = nodes
            else:
                self._elsewhere.pop(agent_id, None)
            self._changed(agent_id)
        elif not self._hub.connected(agent_id):
            return
        elif kind == "to":
            await self._hub.send(agent_id, dict(payload["m"]))
        elif kind == "offer":
            await self._offer(agent_id, str(payload["c"]), payload.get("w"))

    async def _offer(self, agent_id: int, contact_id: str, within_s: object) -> None:
        """Rebuilt here from the database, if the contact is still offered to her."""
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id)
            if contact is None or contact.state != State.OFFERED or contact.agent_id != agent_id:
                log.info("contact %s: no longer offered to agent %s", contact_id, agent_id)
                return
            pop = await screen_pop(s, contact, utc(time.time()))
        await self._hub.send(agent_id, {"type": "offer", "contact": pop,
                                        "accept_within_s": within_s})
