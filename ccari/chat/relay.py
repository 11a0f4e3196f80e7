"""Chats whose customer and agent are on different nodes (several nodes, ccari.cluster).

Every message is saved before anyone sees it; the node that saved it delivers it to its own
sockets, then tells the others "look" (the chat and the message's seq) over the bus.  A node
keeps, per chat, the newest seq its sockets were given (its cursor) and, told to look or
about to deliver a message saved here, first forwards from the database what came after its
cursor: each side sees the messages in seq order, none missing, however the nodes'
notifications interleave; after the bus reconnects every chat is caught up the same way.
What is not saved (the chat's state as the customer sees it, typing) goes over the bus as it
is: small, and sent again by the next change.

A customer may come back on another node than the one she left: the node she comes back to
says so ("back"), and the others cancel the chat's leave timer; a node that restarts (whose
restored chats each get a leave timer) asks where the customers are ("where"), and each node
answers "back" for the chats whose customer it serves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import AgentHub
from ccari.chat import repo
from ccari.chat.sockets import Key
from ccari.cluster.bus import Bus
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Contact

if TYPE_CHECKING:
    from ccari.chat.services import ChatService

log = logging.getLogger(__name__)
TOPIC = "chat"


class ChatRelay:
    def __init__(self, chat: ChatService, bus: Bus, sessions: async_sessionmaker[AsyncSession],
                 hub: AgentHub) -> None:
        self._chat = chat
        self._bus = bus
        self._sessions = sessions
        self._hub = hub
        # contact id -> (tenant id, the newest seq given to this node's sockets)
        self._cursors: dict[str, tuple[int, int]] = {}
        bus.subscribe(TOPIC, self._told)
        bus.on_resync(self.resync)

    def seen(self, tenant_id: int, contact_id: str, seq: int) -> None:
        """This node's sockets of the chat have every message up to ``seq``."""
        _, was = self._cursors.get(contact_id, (tenant_id, 0))
        self._cursors[contact_id] = (tenant_id, max(was, seq))

    def forget(self, contact_id: str) -> None:
        self._cursors.pop(contact_id, None)

    # ---- this node saved ---------------------------------------------------------------
    async def before_delivery(self, contact: Contact, seq: int) -> None:
        """Message ``seq`` was saved here: first what others saved before it (the caller
        holds the chat's lock)."""
        known = self._cursors.get(contact.id)
        if known is not None and known[1] < seq - 1:
            await self._forward(contact.tenant_id, contact.id, known[1], upto=seq - 1)

    async def delivered(self, contact: Contact, seq: int) -> None:
        self.seen(contact.tenant_id, contact.id, seq)
        await self._bus.publish(TOPIC, {"k": "look", "t": contact.tenant_id, "c": contact.id,
                                        "s": seq})

    async def to_customer(self, key: Key, message: dict[str, Any]) -> None:
        """What the customer's pages on other nodes see that is not a saved message."""
        await self._bus.publish(TOPIC, {"k": "customer", "key": list(key), "m": message})

    async def to_agent(self, contact_id: str, message: dict[str, Any]) -> None:
        """The same for the chat's agent's pages (typing)."""
        await self._bus.publish(TOPIC, {"k": "agent", "c": contact_id, "m": message})

    async def customer_here(self, contact_id: str) -> None:
        await self._bus.publish(TOPIC, {"k": "back", "c": contact_id})

    async def ask_where(self) -> None:
        await self._bus.publish(TOPIC, {"k": "where"})

    # ---- other nodes -------------------------------------------------------------------
    async def _told(self, payload: dict[str, Any]) -> None:
        kind = payload.get("k")
        if kind == "look":
            contact_id, tenant_id, seq = str(payload["c"]), int(payload["t"]), int(payload["s"])
            async with self._chat.lock(contact_id):
                _, after = self._cursors.get(contact_id, (tenant_id, seq - 1))
                if seq > after:
                    await self._forward(tenant_id, contact_id, after)
        elif kind == "customer":
            tenant_id, session_id = payload["key"]
            await self._chat.customers.send_here((int(tenant_id), str(session_id)),
                                                 dict(payload["m"]))
        elif kind == "agent":
            agent_id = self._chat.chats.agent_of(str(payload["c"]))
            if agent_id is not None:
                await self._hub.send(agent_id, dict(payload["m"]))
        elif kind == "back":
            self._chat.ending.customer_back(str(payload["c"]))
        elif kind == "where":
            for contact_id in self._chat.chats_with_customer_here():
                await self.customer_here(contact_id)

    async def resync(self) -> None:
        """The bus was away: every chat this node shows, caught up from the database (and
        where the customers are asked again)."""
        await self.ask_where()
        for contact_id, (tenant_id, after) in list(self._cursors.items()):
            async with self._chat.lock(contact_id):
                _, after = self._cursors.get(contact_id, (tenant_id, after))
                await self._forward(tenant_id, contact_id, after)

    async def _forward(self, tenant_id: int, contact_id: str, after: int,
                       upto: int | None = None) -> None:
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, tenant_id)
            if contact is None:
                self.forget(contact_id)
                return
            messages = await repo.transcript(s, tenant_id, contact_id, after=after,
                                             limit=self._chat.settings.replay_limit)
            names = await repo.agent_names(s, tenant_id) if messages else {}
        key = self._chat.chats.session_of(contact_id)
        agent_id = contact.agent_id if contact.state == "connected" else None
        for m in messages:
            if upto is not None and m.seq > upto:
                break
            message = {"type": "message", **repo.as_dict(m, names)}
            if key is not None:
                await self._chat.customers.send_here(key, message)
            if agent_id is not None:
                await self._hub.send(agent_id, {**message, "type": "chat.message",
                                                "contact_id": contact_id})
            self.seen(tenant_id, contact_id, m.seq)
        if contact.state not in contacts_repo.OPEN_STATES:
            self.forget(contact_id)
