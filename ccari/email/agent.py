"""What an agent does with an email contact from the page: read the thread, reply.

Page commands (``ccari.agents.commands``), each checked against the agent's tenant and the
contact's holder: an agent only sees the thread of a contact offered to or taken by them.

* ``{"type": "email.thread", "contact_id"}`` -> ``{"type": "email.thread", "messages": [...]}``
* ``{"type": "email.reply", "contact_id", "body"}`` -> the reply is saved in the outbox
  (answering the customer's latest message, threaded), then sent; ``email.status`` follows.

The agent then completes the contact with the generic ``complete`` command.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.commands import AgentCommands, field
from ccari.agents.notifier import AgentHub
from ccari.contacts import repo as contacts
from ccari.contacts.queue_core import utc
from ccari.email import repo
from ccari.email.outbound import Outbox
from ccari.email.services import EmailService, view
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)
MAX_REPLY = 100_000


class AgentEmail:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], service: EmailService,
                 outbox: Outbox, hub: AgentHub, *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._service = service
        self._outbox = outbox
        self._hub = hub
        self._clock = clock

    def register(self, commands: AgentCommands) -> None:
        commands.register("email.thread", self._cmd_thread)
        commands.register("email.reply", self._cmd_reply)

    async def _held(self, s: AsyncSession, agent: Agent, contact_id: str, *states: str) -> Contact:
        contact = await contacts.get(s, contact_id, agent.tenant_id)
        if contact is None or contact.medium != "email" or contact.agent_id != agent.id:
            raise NotFound("no such email contact for you", error_id="contact-not-found")
        if contact.state not in states:
            raise Conflict(f"the contact is {contact.state}", error_id="contact-not-" + states[0])
        return contact

    async def thread(self, agent: Agent, contact_id: str) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            await self._held(s, agent, contact_id, "connected", "offered")
            return [view(m) for m in await repo.thread(s, agent.tenant_id, contact_id)]

    async def reply(self, agent: Agent, contact_id: str, body: str) -> dict[str, Any]:
        if not body.strip():
            raise BadRequest("the reply is empty", error_id="bad-body")
        if len(body) > MAX_REPLY:
            raise BadRequest("the reply is too long", error_id="bad-body")
        now = utc(self._clock())
        async with self._sessions() as s:
            contact = await self._held(s, agent, contact_id, "connected")
            parent = await repo.last_inbound(s, agent.tenant_id, contact_id)
            box = await repo.mailbox(s, agent.tenant_id, parent.mailbox_id) if parent else None
            if parent is None or box is None or not parent.to_address:
                raise Conflict("nobody to answer in this thread", error_id="no-recipient")
            row = self._service.outgoing(box, contact, parent, kind="reply", body=body,
                                         from_name=box.display_name or agent.display_name,
                                         at=now, agent_id=agent.id)
            s.add(row)
            await contacts.log(s, contact, "email-reply", now, agent_id=agent.id,
                               message_id=row.message_id)
            await s.commit()
        log.info("contact %s: agent %s replied (%s)", contact_id, agent.id, row.message_id)
        self._outbox.wake()
        return view(row)

    async def on_accepted(self, contact: Contact, agent: Agent) -> None:
        """The agent took the contact: show the whole thread at once."""
        messages = await self.thread(agent, contact.id)
        await self._hub.send(agent.id, {"type": "email.thread", "contact_id": contact.id,
                                        "messages": messages})

    async def _cmd_thread(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        return {"type": "email.thread", "contact_id": contact_id,
                "messages": await self.thread(agent, contact_id)}

    async def _cmd_reply(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        message = await self.reply(agent, contact_id, field(msg, "body"))
        return {"type": "email.message", "contact_id": contact_id, "message": message}
