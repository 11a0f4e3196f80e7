"""Web chat use cases: open a chat, exchange messages, close it; both sides.

A chat is a contact of medium ``chat`` in the universal queue.  Every message is saved
(numbered by ``seq`` in its conversation) before it is acknowledged to its sender or
forwarded; a customer that reconnects gets the whole transcript again and drops what it
already shows by ``seq``.  Typing indicators are forwarded, never saved.

Customer sockets live on the node that serves them.  How chats end is in
:mod:`ccari.chat.ending`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.chat import repo
from ccari.chat.directory import OpenChats
from ccari.chat.ending import ChatEnding
from ccari.chat.models import ChatSession
from ccari.chat.relay import ChatRelay
from ccari.chat.sockets import CustomerSockets, Key
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import State
from ccari.contacts.offers import PageOffers
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.public import repo as public_repo
from ccari.public.ratelimit import Limiters
from ccari.public.tokens import CustomerSession
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)
Deliver = Callable[[dict[str, Any], Contact], Awaitable[None]]


@dataclass(frozen=True)
class ChatSettings:
    max_body: int = 4000
    abandon_after_s: float = 60.0
    close_after_s: float = 600.0
    replay_limit: int = 1000


class ChatService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 offers: PageOffers, hub: AgentHub, limiters: Limiters, *, node: str,
                 settings: ChatSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self._offers = offers
        self._hub = hub
        self._executor = Executor(queue)
        self.limiters = limiters
        self.settings = settings or ChatSettings()
        self._node = node
        self._clock = clock
        self.customers = CustomerSockets()
        self._locks: defaultdict[object, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.chats = OpenChats()
        self.ending = ChatEnding(self, sessions, queue, offers, hub, clock)
        # Several nodes: the chat's other side may be on another node (ccari.chat.relay).
        self.relay: ChatRelay | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Reconcile: open chats of this node have no customer socket after a restart;
        each gets its leave timer (a customer who comes back cancels it)."""
        async with self._sessions() as s:
            chats = await repo.open_chats(s, self._node)
        for chat, contact in chats:
            self.chats.remember(chat, contact)
            self.ending.customer_gone(contact.id)
        if chats:
            log.info("chat: %d open chats restored", len(chats))
            if self.relay is not None:  # the customer may be on another node now
                await self.relay.ask_where()

    async def close(self) -> None:
        await self.ending.close()
        await self.customers.close()

    def forget(self, contact_id: str) -> None:
        """The chat is over: drop what this node kept about it."""
        key = self.chats.forget(contact_id)
        self._locks.pop(contact_id, None)
        if key is not None:
            self._locks.pop(("open", key), None)
        self.ending.customer_back(contact_id)
        if self.relay is not None:
            self.relay.forget(contact_id)

    def lock(self, contact_id: str) -> asyncio.Lock:
        """Held while a message of the chat is saved and delivered (seq order)."""
        return self._locks[contact_id]

    # ---- customer side -----------------------------------------------------------------
    async def attach(self, sess: CustomerSession, ws: web.WebSocketResponse) -> None:
        """A customer page connected: tell it where its chat is and replay the transcript."""
        key = (sess.tenant_id, sess.session_id)
        self.customers.add(key, ws)
        async with self._sessions() as s:
            found = await repo.latest(s, sess.tenant_id, sess.session_id, open_only=True)
            if found is None:
                await ws.send_json({"type": "state", "state": "none"})
                return
            chat, contact = found
            messages = await repo.transcript(s, chat.tenant_id, contact.id,
                                             limit=self.settings.replay_limit)
            names = await repo.agent_names(s, chat.tenant_id)
        self.chats.remember(chat, contact)
        self.ending.customer_back(contact.id)
        await ws.send_json(self._state(contact, names))
        for m in messages:
            await ws.send_json({"type": "message", **repo.as_dict(m, names)})
        if self.relay is not None:
            self.relay.seen(chat.tenant_id, contact.id, messages[-1].seq if messages else 0)
            await self.relay.customer_here(contact.id)
        await self._tell_agent_presence(contact.id, present=True)

    async def detach(self, sess: CustomerSession, ws: web.WebSocketResponse) -> None:
        key = (sess.tenant_id, sess.session_id)
        contact_id = self.chats.of_session(key)
        if self.customers.remove(key, ws) and contact_id is not None:
            self.ending.customer_gone(contact_id)
            await self._tell_agent_presence(contact_id, present=False)

    def _state(self, contact: Contact, names: dict[int, str]) -> dict[str, Any]:
        state = {"queued": "queued", "offered": "queued", "connected": "connected"}.get(
            contact.state, "closed")
        out: dict[str, Any] = {"type": "state", "state": state, "contact_id": contact.id}
        if state == "connected" and contact.agent_id is not None:
            out["agent"] = names.get(contact.agent_id)
        if state == "queued":
            out.update(self.wait_of(contact.id))
        return out

    def wait_of(self, contact_id: str) -> dict[str, Any]:
        view = self._queue.view(contact_id)
        if view is None:  # an open chat out of the queue's line: being offered to an agent
            return {"anticipated_wait_s": 0, "position": 0}
        wait = view.predicted_wait_s
        return {"anticipated_wait_s": round(wait) if wait != float("inf") else None,
                "position": view.position}

    async def open(self, sess: CustomerSession, ip: str, *, topic: str | None, page_url: str,
                   name: str | None = None, address: str | None = None) -> dict[str, Any]:
        """The customer asks to chat: a contact saved as queued, then routed.  Opening again
        while a chat is open returns that chat (a double click opens one)."""
        key = (sess.tenant_id, sess.session_id)
        async with self._locks[("open", key)]:
            async with self._sessions() as s:
                found = await repo.latest(s, sess.tenant_id, sess.session_id, open_only=True)
                names = await repo.agent_names(s, sess.tenant_id) if found else {}
                known = await public_repo.topics(s, sess.tenant_id)
            if found is not None:
                state = self._state(found[1], names)
                await self.customers.send(key, state)
                return state
            if topic is not None and topic not in known:
                raise BadRequest("no such topic", error_id="bad-topic")
            self.limiters.chats_per_session.check(sess.session_id, "chats")
            self.limiters.chats_per_ip.check(ip, "chats")
            attributes: dict[str, Any] = {}
            if topic is not None:
                attributes[public_repo.TOPIC_ATTRIBUTE] = topic
            now = utc(self._clock())
            async with self._sessions() as s:
                contact = await contacts_repo.create(
                    s, tenant_id=sess.tenant_id, medium="chat", state=State.QUEUED.value,
                    node=self._node,
                    arrived_at=now, queued_at=now, attributes=attributes,
                    meta={"page_url": page_url},
                    caller_name=name or None)
                chat = ChatSession(contact_id=contact.id, tenant_id=sess.tenant_id,
                                   session_id=sess.session_id, customer_address=address,
                                   opened_at=now, last_seq=0)
                s.add(chat)
                await s.commit()
            self.chats.remember(chat, contact)
            log.info("contact %s: chat opened (tenant %s, topic %s)", contact.id,
                     sess.tenant_id, topic, extra=logs.about(contact.id, sess.tenant_id))
            await self._executor.carry_out(contact, lifecycle.born(State.QUEUED), agent_id=None)
        state = self._state(contact, {})
        await self.customers.send(key, state)
        return state

    def open_chat_of(self, sess: CustomerSession) -> str | None:
        return self.chats.of_session((sess.tenant_id, sess.session_id))

    async def latest_chat_of(self, sess: CustomerSession) -> str | None:
        """The session's last chat, open or closed (whose transcript the customer may want)."""
        async with self._sessions() as s:
            found = await repo.latest(s, sess.tenant_id, sess.session_id)
        return None if found is None else found[1].id

    def _open_chat(self, sess: CustomerSession) -> str:
        contact_id = self.open_chat_of(sess)
        if contact_id is None:
            raise Conflict("no chat is open; start one first", error_id="chat-not-open")
        return contact_id

    async def customer_says(self, sess: CustomerSession, body: str,
                            client_id: str | None = None) -> dict[str, Any]:
        """Save, then echo to the customer's pages (the acknowledgement, with its seq and
        ``client_id``) and forward to the agent.  A resent ``client_id`` is echoed again,
        not saved twice."""
        self.limiters.messages_per_session.check(sess.session_id, "messages")
        body = self.body(body)
        key = (sess.tenant_id, sess.session_id)

        async def deliver(message: dict[str, Any], contact: Contact) -> None:
            await self.customers.send(key, message)
            if contact.state == "connected" and contact.agent_id is not None:
                await self._hub.send(contact.agent_id, {**message, "type": "chat.message",
                                                        "contact_id": contact.id})

        return await self.post(sess.tenant_id, self._open_chat(sess), "customer", body,
                               client_id=client_id, deliver=deliver)

    async def customer_typing(self, sess: CustomerSession, typing: bool) -> None:
        contact_id = self.open_chat_of(sess)
        agent_id = self.chats.agent_of(contact_id)
        message = {"type": "chat.typing", "contact_id": contact_id, "typing": bool(typing)}
        if agent_id is not None:
            await self._hub.send(agent_id, message)
        elif self.relay is not None and contact_id is not None:  # her agent joined elsewhere
            await self.relay.to_agent(contact_id, message)

    async def customer_closes(self, sess: CustomerSession) -> None:
        await self.ending.by_customer(self._open_chat(sess), "customer-closed")

    # ---- hooks of PageOffers ------------------------------------------------------------
    async def joined(self, contact: Contact, agent: Agent) -> None:
        """The agent accepted: the customer sees who joined."""
        key = await self.key_of(contact)
        self.chats.set_agent(contact.id, agent.id)

        async def deliver(message: dict[str, Any], _: Contact) -> None:
            await self.customers.send(key, {"type": "state", "state": "connected",
                                            "contact_id": contact.id, "agent": agent.display_name})
            await self.customers.send(key, message)

        await self.post(contact.tenant_id, contact.id, "system",
                        f"{agent.display_name} joined the chat", deliver=deliver)

    async def transferred(self, contact: Contact, text: str) -> None:
        """The agent handed the chat on: it waits again (its agent's slot is free)."""
        key = await self.key_of(contact)

        async def deliver(message: dict[str, Any], _: Contact) -> None:
            await self.customers.send(key, message)
            await self.customers.send(key, self._state(contact, {}))

        await self.post(contact.tenant_id, contact.id, "system", text, deliver=deliver)

    # ---- shared ------------------------------------------------------------------------
    def body(self, body: object) -> str:
        if not isinstance(body, str) or not body.strip():
            raise BadRequest("a message needs some text", error_id="bad-body")
        if len(body) > self.settings.max_body:
            raise BadRequest(f"a message has at most {self.settings.max_body} characters",
                             error_id="body-too-long")
        return body

    def chats_with_customer_here(self) -> list[str]:
        """The open chats whose customer has a page open on this node."""
        return [contact_id for key, contact_id in self.chats.sessions()
                if self.customers.present(key)]

    def customer_present(self, contact_id: str) -> bool:
        key = self.chats.session_of(contact_id)
        return key is not None and self.customers.present(key)

    async def key_of(self, contact: Contact) -> Key:
        key = self.chats.session_of(contact.id)
        if key is None:
            async with self._sessions() as s:
                chat = await repo.conversation(s, contact.tenant_id, contact.id)
            if chat is None:
                raise NotFound("no such chat", error_id="chat-not-found")
            key = self.chats.remember(chat, contact)
        return key

    async def post(self, tenant_id: int, contact_id: str, sender: str, body: str, *,
                   agent: Agent | None = None, check: Callable[[Contact], None] | None = None,
                   client_id: str | None = None, deliver: Deliver | None = None,
                   ) -> dict[str, Any]:
        """Save a message (numbered in its conversation), then ``deliver`` it.  The messages
        of one chat are saved and delivered one at a time, so they arrive in seq order."""
        async with self.lock(contact_id):
            async with self._sessions() as s:
                contact = await contacts_repo.get(s, contact_id, tenant_id)
                chat = await repo.conversation(s, tenant_id, contact_id, for_update=True)
                if contact is None or chat is None:
                    raise NotFound("no such chat", error_id="chat-not-found")
                if contact.state not in contacts_repo.OPEN_STATES:
                    raise Conflict("the chat is closed", error_id="chat-closed")
                if check is not None:
                    check(contact)
                # A resend after a reconnect: the saved message is delivered again (pages
                # drop the seqs they show), never saved twice.
                saved = (await repo.by_client_id(s, chat, sender, client_id) if client_id
                         else None)
                if saved is None:
                    saved = await repo.append(s, chat, sender, body, utc(self._clock()),
                                              agent_id=agent.id if agent else None,
                                              client_id=client_id)
                    await s.commit()
            names = {agent.id: agent.display_name} if agent else {}
            message = {"type": "message", **repo.as_dict(saved, names)}
            if self.relay is not None:
                await self.relay.before_delivery(contact, saved.seq)
            if deliver is not None:
                await deliver(message, contact)
            if self.relay is not None:
                await self.relay.delivered(contact, saved.seq)
        return message

    async def _tell_agent_presence(self, contact_id: str, *, present: bool) -> None:
        agent_id = self.chats.agent_of(contact_id)
        message = {"type": "chat.customer", "contact_id": contact_id, "present": present}
        if agent_id is not None:
            await self._hub.send(agent_id, message)
        elif self.relay is not None:  # her agent joined on another node
            await self.relay.to_agent(contact_id, message)
