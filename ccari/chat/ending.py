"""How a chat ends.

* The agent closes it: the generic ``complete`` command with a disposition (PageOffers
  completes the contact, then :meth:`ChatEnding.on_completed` tells the customer).
* The customer closes it: a waiting chat is abandoned (withdrawn from the queue); a chat
  with an agent is completed with ``customer-closed`` (the agent's slot is freed at once
  and the agent's page told).
* The customer's page is gone for good: no page of the session came back within
  ``abandon_after_s`` (waiting) or ``close_after_s`` (with an agent): the same, with the
  disposition ``customer-left``.  After a restart every open chat starts that count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents import repo as agents_repo
from ccari.agents.notifier import AgentHub
from ccari.chat import repo
from ccari.chat.models import ChatSession
from ccari.chat.timers import Timers
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import Fact
from ccari.contacts.offers import PageOffers
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.errors import CcariError
from ccari.storage.models import Agent, Contact

if TYPE_CHECKING:
    from ccari.chat.services import ChatService

log = logging.getLogger(__name__)
WAITING = ("queued", "offered")


class ChatEnding:
    def __init__(self, chat: ChatService, sessions: async_sessionmaker[AsyncSession],
                 queue: QueueService, offers: PageOffers, hub: AgentHub,
                 clock: Callable[[], float] = time.time) -> None:
        self._chat = chat
        self._sessions = sessions
        self._executor = Executor(queue)
        self._offers = offers
        self._hub = hub
        self._clock = clock
        self._leaving = Timers("chat-leaving")
        self._closing: dict[str, str] = {}  # chats the customer side is completing

    async def close(self) -> None:
        await self._leaving.close()

    def customer_gone(self, contact_id: str) -> None:
        """No page of the customer is open: the chat ends unless one comes back in time."""
        settings = self._chat.settings
        grace = (settings.close_after_s if self._chat.chats.agent_of(contact_id) is not None
                 else settings.abandon_after_s)

        async def left() -> None:
            key = self._chat.chats.session_of(contact_id)
            if key is not None and not self._chat.customers.present(key):
                log.info("contact %s: the customer left the chat", contact_id,
                         extra=logs.about(contact_id, key[0]))
                await self.by_customer(contact_id, "customer-left")

        self._leaving.start(contact_id, grace, left)

    def customer_back(self, contact_id: str) -> None:
        self._leaving.cancel(contact_id)

    async def by_customer(self, contact_id: str, disposition: str) -> None:
        """The customer ended the chat (or left): a waiting chat is abandoned, a chat with an
        agent is completed (freeing the agent's slot) and the agent's page told."""
        key = self._chat.chats.session_of(contact_id)
        if key is None:
            return
        for _ in range(2):  # an agent may accept while the customer leaves: then complete
            async with self._sessions() as s:
                contact = await contacts_repo.get(s, contact_id, key[0])
                agent = None
                if contact is not None and contact.state == "connected" and contact.agent_id:
                    agent = await agents_repo.get(s, key[0], contact.agent_id)
            if contact is None or contact.state not in contacts_repo.OPEN_STATES:
                self._chat.forget(contact_id)
                return
            if agent is not None:
                await self._complete_for_customer(agent, contact_id, disposition)
                return
            if await self._abandon(key[0], contact_id, disposition):
                return

    async def _abandon(self, tenant_id: int, contact_id: str, disposition: str) -> bool:
        now = utc(self._clock())
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, tenant_id, for_update=True)
            if contact is None or contact.state not in WAITING:
                return False
            offered_to = contact.agent_id
            commands = lifecycle.move(contact.state, Fact.CUSTOMER_LEFT).commands
            waited = (now - (contact.queued_at or contact.arrived_at)).total_seconds()
            await contacts_repo.apply(s, contact, Fact.CUSTOMER_LEFT, at=now, ended_at=now,
                                           wait_s=round(waited, 3), agent_id=None,
                                           disposition=disposition)
            chat = await repo.conversation(s, tenant_id, contact_id, for_update=True)
            message = await self._close_chat(s, chat, "customer", now) if chat else None
            await s.commit()
        log.info("contact %s: chat abandoned (%s)", contact_id, disposition,
                 extra=logs.about(contact_id, tenant_id))
        await self._executor.carry_out(contact, commands, agent_id=offered_to)
        if message is not None:
            await self._tell_customer_closed(contact_id, "customer", message)
        self._chat.forget(contact_id)
        return True

    async def _complete_for_customer(self, agent: Agent, contact_id: str,
                                     disposition: str) -> None:
        self._closing[contact_id] = "customer"
        try:
            await self._offers.complete(agent, contact_id, disposition)
        except CcariError as exc:  # the agent closed it at the same moment
            log.info("contact %s: customer close lost to %s", contact_id, exc.error_id,
                     extra=logs.about(contact_id, agent.tenant_id))
            return
        finally:
            self._closing.pop(contact_id, None)
        await self._hub.send(agent.id, {"type": "chat.ended", "contact_id": contact_id,
                                        "by": "customer"})

    async def on_completed(self, contact: Contact, agent: Agent) -> None:
        by = self._closing.get(contact.id, "agent")
        now = utc(self._clock())
        async with self._chat.lock(contact.id):
            async with self._sessions() as s:
                chat = await repo.conversation(s, contact.tenant_id, contact.id, for_update=True)
                if chat is None:
                    return
                message = await self._close_chat(s, chat, by, now, agent=agent)
                await s.commit()
            log.info("contact %s: chat closed by %s", contact.id, by,
                     extra=logs.about(contact.id, contact.tenant_id))
            await self._tell_customer_closed(contact.id, by, message)
        self._chat.forget(contact.id)

    async def _close_chat(self, s: AsyncSession, chat: ChatSession, by: str, now: Any,
                          agent: Agent | None = None) -> dict[str, Any]:
        chat.closed_at, chat.closed_by = now, by
        text = ("You ended the chat" if by == "customer" else
                f"{agent.display_name if agent else 'The agent'} closed the chat")
        message = await repo.append(s, chat, "system", text, now)
        return {"type": "message", **repo.as_dict(message, {})}

    async def _tell_customer_closed(self, contact_id: str, by: str,
                                    message: dict[str, Any]) -> None:
        key = self._chat.chats.session_of(contact_id)
        if key is not None:
            await self._chat.customers.send(key, message)
            await self._chat.customers.send(key, {"type": "state", "state": "closed",
                                                  "by": by, "contact_id": contact_id})
