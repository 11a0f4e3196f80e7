"""The cluster's :class:`~ccari.contacts.role.RoutingRole`: only the routing leader routes
(every node's contacts), its offers fenced by its epoch; the other nodes tell it, over the
bus, of contacts that came or went, and it reads them back from the database."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.cluster.bus import Bus
from ccari.cluster.leader import Leadership
from ccari.cluster.repo import holds_sync
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import State
from ccari.contacts.services import QueueService

log = logging.getLogger(__name__)
TOPIC = "queue"


class ClusterRole:
    routes_all_nodes = True

    def __init__(self, leadership: Leadership, bus: Bus,
                 sessions: async_sessionmaker[AsyncSession], queue: QueueService) -> None:
        self._leadership = leadership
        self._bus = bus
        self._sessions = sessions
        self._queue = queue
        bus.subscribe(TOPIC, self._told)

    def leads(self) -> bool:
        return self._leadership.leading

    def fence(self, session: Session) -> bool:
        epoch = self._leadership.epoch
        return epoch is not None and holds_sync(session, self._leadership.name, epoch)

    async def tell_leader(self, what: str, contact_id: str) -> None:
        await self._bus.publish(TOPIC, {"do": what, "c": contact_id})

    async def _told(self, payload: dict[str, Any]) -> None:
        """A follower's contact came or went (what a new leader reads anyway)."""
        if not self.leads():
            return
        contact_id = str(payload.get("c"))
        if payload.get("do") == "withdraw":
            await self._queue.withdraw(contact_id)
            return
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id)
        if contact is not None and contact.state == State.QUEUED:
            await self._queue.enqueue(contact)
