"""Every node's agent pages, as routing sees them (several nodes).

Each node records in ``cluster_agent_pages`` whether it serves a page of an agent (her
first page opened here, her last one closed), then tells the others "look" with her id;
they read the rows again.  So every node knows which agents have a page open somewhere,
and the leader's router offers page work to an agent whatever node serves her page.

What routing tells an agent's pages is sent to this node's sockets and, if another node
serves a page of hers, over the bus: as it is when it is small (a state, a withdrawal), by
reference for an offer (the contact's id: the node holding the socket rebuilds the screen
pop from the database, if the contact is still offered to her).  A node whose bus was away
settles its pages' offers once it listens again: the offers made to them meanwhile are told
(with the time left to accept each; otherwise they would lapse unseen, counted as her
misses), and an offer a page shows that was withdrawn meanwhile is withdrawn there (or shown
connected, when she took it on another page).  What a page already shows is not told again.
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
from ccari.storage.models import Contact
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
        # agent id -> the page offers (chat, e-mail...) her pages here were told and show
        self._shown: dict[int, set[str]] = {}
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
        """The offers of the agents whose page is here, settled after this node's listener
        was away (the leader's "offer" or "withdrawn" may be lost): what is offered to them
        now and their pages do not show is told, each with the time left to accept it,
        counted from when it was made (one whose time is up is not); what their pages show
        that is no longer offered to them is withdrawn, or shown connected when she took it
        on another page."""
        here = [a for a in self._hub.agent_ids() if self._hub.connected(a)]
        if not here:
            return
        now = time.time()
        told: list[tuple[int, dict[str, Any]]] = []
        async with self._sessions() as s:
            offered = await contacts_repo.offered_to(s, here, self._offers.media)
            for contact, made in offered:
                agent_id = contact.agent_id
                if made is None or agent_id is None or contact.id in self._shown.get(agent_id, ()):
                    continue
                left = round(self._offers.accept_timeout_s - (now - made.timestamp()), 1)
                if left > 0:
                    log.info("contact %s: told again to agent %s, %.1f s left to accept",
                             contact.id, agent_id, left)
                    told.append((agent_id, {"type": "offer", "again": True,
                                            "contact": await screen_pop(s, contact, utc(now)),
                                            "accept_within_s": left}))
            still = {contact.id for contact, _ in offered}
            for agent_id in here:
                for contact_id in sorted(self._shown.get(agent_id, set()) - still):
                    # Read again: it may have been offered to her since the read above.
                    settled = _settled(await contacts_repo.get(s, contact_id), agent_id,
                                       contact_id)
                    if settled is not None:
                        told.append((agent_id, settled))
        for agent_id, message in told:
            await self._here(agent_id, message)

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
        await self._here(agent_id, message)
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
    async def _here(self, agent_id: int, message: dict[str, Any]) -> None:
        """To her pages on this node, noting the page offers they show."""
        kind = message.get("type")
        if kind == "offer" and message["contact"].get("medium") in self._offers.media:
            if self._hub.connected(agent_id):
                self._shown.setdefault(agent_id, set()).add(str(message["contact"]["id"]))
        elif kind in ("withdrawn", "connected", "completed") and agent_id in self._shown:
            self._shown[agent_id].discard(str(message.get("contact_id")))
        await self._hub.send(agent_id, message)

    def _here_changed(self, agent_id: int) -> None:
        if not self._hub.connected(agent_id):
            self._shown.pop(agent_id, None)  # a page opened later shows none of them
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
            await self._here(agent_id, dict(payload["m"]))
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
        await self._here(agent_id, {"type": "offer", "contact": pop, "accept_within_s": within_s})


def _settled(contact: Contact | None, agent_id: int, contact_id: str) -> dict[str, Any] | None:
    """What a page showing ``contact_id`` offered to ``agent_id`` is to show now that it is
    no longer seen offered to her: nothing when it is (offered again since), connected when
    she took it (on another page), else withdrawn."""
    if contact is not None and contact.agent_id == agent_id:
        if contact.state == State.OFFERED:
            return None
        if contact.state == State.CONNECTED:
            return {"type": "connected", "contact_id": contact_id, "medium": contact.medium}
    return {"type": "withdrawn", "contact_id": contact_id}
