"""What agents do in chats: read the history, write, type, transfer, email the transcript.

Page -> server messages (``rt.commands``): ``chat.send`` {contact_id, body},
``chat.typing`` {contact_id, typing}, ``chat.transfer`` {contact_id, agent | topic},
``chat.email`` {contact_id, address?}, ``chat.resume`` {} (a reloaded page asks for its chats
again).  Closing is the generic ``complete`` {contact_id, disposition}.

Server -> page: ``chat.history`` (transcript, topics and colleagues for the transfer
control), ``chat.message``, ``chat.typing``, ``chat.customer`` {present}, ``chat.ended``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.commands import AgentCommands, field
from ccari.agents.notifier import AgentHub
from ccari.chat import mail, repo
from ccari.chat.services import ChatService
from ccari.config import SmtpConfig
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import Fact
from ccari.contacts.queue_core import utc
from ccari.contacts.screenpop import screen_pop
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.public import repo as public_repo
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)


class AgentChats:
    def __init__(self, chat: ChatService, sessions: async_sessionmaker[AsyncSession],
                 queue: QueueService, hub: AgentHub, smtp: SmtpConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self._chat = chat
        self._sessions = sessions
        self._queue = queue
        self._hub = hub
        self._executor = Executor(queue)
        self._smtp = smtp
        self._clock = clock

    def register(self, commands: AgentCommands) -> None:
        commands.register("chat.send", self._cmd_send)
        commands.register("chat.typing", self._cmd_typing)
        commands.register("chat.transfer", self._cmd_transfer)
        commands.register("chat.email", self._cmd_email)
        commands.register("chat.resume", self._cmd_resume)

    # ---- hooks ---------------------------------------------------------------------------
    async def on_accepted(self, contact: Contact, agent: Agent) -> None:
        await self._chat.joined(contact, agent)
        await self.send_history(agent, contact.id)

    async def send_history(self, agent: Agent, contact_id: str) -> None:
        async with self._sessions() as s:
            messages = await repo.transcript(s, agent.tenant_id, contact_id,
                                             limit=self._chat.settings.replay_limit)
            names = await repo.agent_names(s, agent.tenant_id)
            topics = await public_repo.topics(s, agent.tenant_id)
            colleagues = list(await s.scalars(
                select(Agent).where(Agent.tenant_id == agent.tenant_id, Agent.id != agent.id)
                .order_by(Agent.username)))
        await self._hub.send(agent.id, {
            "type": "chat.history", "contact_id": contact_id,
            "messages": [repo.as_dict(m, names) for m in messages],
            "customer_present": self._chat.customer_present(contact_id),
            "topics": topics,
            "agents": [{"username": a.username, "name": a.display_name} for a in colleagues],
        })

    # ---- use cases -----------------------------------------------------------------------
    async def say(self, agent: Agent, contact_id: str, body: str,
                  client_id: str | None = None) -> None:
        """``client_id``: the page's id for the message: sent again (after a reconnect, an
        error), it is delivered again, not saved twice."""
        body = self._chat.body(body)

        async def deliver(message: dict[str, Any], contact: Contact) -> None:
            await self._chat.customers.send(await self._chat.key_of(contact), message)
            await self._hub.send(agent.id, {**message, "type": "chat.message",
                                            "contact_id": contact_id})

        await self._chat.post(agent.tenant_id, contact_id, "agent", body, agent=agent,
                              check=_yours(agent), client_id=client_id, deliver=deliver)

    async def typing(self, agent: Agent, contact_id: str, typing: bool) -> None:
        if self._chat.chats.agent_of(contact_id) != agent.id:
            raise Conflict("this chat is not yours now", error_id="chat-not-connected")
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id)
        if contact is not None:
            key = await self._chat.key_of(contact)
            await self._chat.customers.send(key, {"type": "typing", "typing": typing,
                                                  "agent": agent.display_name})

    async def transfer(self, agent: Agent, contact_id: str, *, to_agent: str | None,
                       topic: str | None) -> None:
        """Hand the chat to a colleague or back to the queue with a topic.  It waits again
        with its original arrival time (so ahead of later chats); the customer is told."""
        if (to_agent is None) == (topic is None):
            raise BadRequest("name an agent or a topic", error_id="bad-transfer")
        now = utc(self._clock())
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id, for_update=True)
            if contact is None:
                raise NotFound("no such chat", error_id="chat-not-found")
            _yours(agent)(contact)
            attrs = {k: v for k, v in (contact.attributes or {}).items()
                     if k != public_repo.TOPIC_ATTRIBUTE}
            # A chat handed to one colleague: QueueService routes it to that agent only.
            meta = contact.meta.copy()
            meta.pop("reserved_agent", None)
            if to_agent is not None:
                target = await s.scalar(select(Agent).where(Agent.tenant_id == agent.tenant_id,
                                                            Agent.username == to_agent))
                if target is None:
                    raise NotFound("no such agent", error_id="agent-not-found")
                if target.id == agent.id:
                    raise BadRequest("the chat is already yours", error_id="bad-transfer")
                if self._queue.agent_state(target.id) in ("logged_out", "not_ready"):
                    raise Conflict(f"{target.display_name} is not taking chats now",
                                   error_id="agent-unavailable")
                old = (contact.attributes or {}).get(public_repo.TOPIC_ATTRIBUTE)
                if old is not None:
                    meta["topic"] = old
                meta["reserved_agent"] = str(target.id)
                text = f"{agent.display_name} is transferring you to {target.display_name}"
            else:
                if topic not in await public_repo.topics(s, agent.tenant_id):
                    raise BadRequest("no such topic", error_id="bad-topic")
                attrs[public_repo.TOPIC_ATTRIBUTE] = topic
                text = f"{agent.display_name} is transferring you to {topic}"
            commands = lifecycle.move(contact.state, Fact.TRANSFERRED).commands
            await contacts_repo.apply(s, contact, Fact.TRANSFERRED, at=now, agent_id=None,
                                      attributes=attrs, meta=meta)
            await contacts_repo.log(s, contact, "transferred", now, from_agent=agent.id,
                                    to_agent=to_agent, topic=topic)
            await s.commit()
        log.info("contact %s: agent %s transferred the chat (agent %s, topic %s)", contact_id,
                 agent.id, to_agent, topic)
        self._chat.chats.set_agent(contact_id, None)  # chat's part of the disconnect
        # The agent's part ends, the chat waits again (queued_at unchanged: its arrival
        # time is kept).
        await self._executor.carry_out(contact, commands, agent_id=agent.id)
        await self._chat.transferred(contact, text)

    async def email(self, agent: Agent, contact_id: str, address: str | None) -> str:
        async with self._sessions() as s:
            chat = await repo.conversation(s, agent.tenant_id, contact_id)
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id)
        if chat is None or contact is None or contact.agent_id != agent.id:
            raise NotFound("no such chat of yours", error_id="chat-not-found")
        address = address or chat.customer_address
        if not address:
            raise BadRequest("the customer gave no address; type one", error_id="bad-address")
        await mail.send_transcript(self._sessions, self._smtp, agent.tenant_id, contact_id,
                                   address)
        return address

    async def resume(self, agent: Agent) -> None:
        """A reloaded agent page: its offered and active chats again, with their history."""
        async with self._sessions() as s:
            chats = await repo.agents_chats(s, agent.tenant_id, agent.id)
            now = dt.datetime.now(dt.UTC)
            pops = [(c, await screen_pop(s, c, now)) for c in chats]
        for contact, pop in pops:
            await self._hub.send(agent.id, {"type": "offer", "contact": pop, "resumed": True})
            if contact.state == "connected":
                await self._hub.send(agent.id, {"type": "connected", "contact_id": contact.id,
                                                "medium": "chat"})
                await self.send_history(agent, contact.id)

    # ---- commands ------------------------------------------------------------------------
    async def _cmd_send(self, agent: Agent, msg: dict[str, Any]) -> None:
        client_id = msg.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
            raise BadRequest("client_id must be text of at most 64 characters",
                             error_id="bad-client-id")
        await self.say(agent, field(msg, "contact_id"), field(msg, "body"), client_id)

    async def _cmd_typing(self, agent: Agent, msg: dict[str, Any]) -> None:
        await self.typing(agent, field(msg, "contact_id"), msg.get("typing") is True)

    async def _cmd_transfer(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        to_agent, topic = msg.get("agent") or None, msg.get("topic") or None
        if not isinstance(to_agent, str | None) or not isinstance(topic, str | None):
            raise BadRequest("agent and topic are names", error_id="bad-transfer")
        await self.transfer(agent, contact_id, to_agent=to_agent, topic=topic)
        return {"type": "chat.transferred", "contact_id": contact_id}

    async def _cmd_email(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        address = msg.get("address") or None
        if not isinstance(address, str | None):
            raise BadRequest("address must be text", error_id="bad-address")
        sent_to = await self.email(agent, contact_id, address)
        return {"type": "chat.emailed", "contact_id": contact_id, "address": sent_to}

    async def _cmd_resume(self, agent: Agent, msg: dict[str, Any]) -> None:
        await self.resume(agent)


def _yours(agent: Agent) -> Callable[[Contact], None]:
    def check(contact: Contact) -> None:
        if contact.agent_id != agent.id or contact.state != "connected":
            raise Conflict("this chat is not yours now", error_id="chat-not-connected")

    return check
