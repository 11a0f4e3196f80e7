"""Agent first: reserve a skilled agent, ring their phone with the screen pop, and only
when they answer dial the customer; when the customer answers, both legs go to the voice
ACD as one connected call (:meth:`ccari.voice.handover.Handover.adopt_connected`).

The callback contact is routed like any contact (medium ``callback``; agents have a
``callback`` slot, exclusive like voice).  The agent's leg is ``cba-<contact>-<offer>``.
Agent does not answer: the offer fails like a voice offer (back in front, agent not ready);
the customer was never dialled.  Customer not reached: the agent is released (the contact
leaves the router) and the callback waits for its next attempt.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ccari.agents.notifier import AgentHub
from ccari.ari import ids
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.callbacks import repo
from ccari.callbacks.executor import Followup
from ccari.callbacks.legs import AgentLeg, Leg, VoicePort
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.screenpop import screen_pop
from ccari.contacts.services import QueueService
from ccari.storage.models import Agent, Contact
from ccari.tenants import repo as tenants_repo
from ccari.voice.legs import dial

if TYPE_CHECKING:
    from ccari.callbacks.dialer import Dialer

log = logging.getLogger(__name__)


class AgentFirst:
    def __init__(self, dialer: Dialer, queue: QueueService, hub: AgentHub, voice: VoicePort,
                 moh_class: str) -> None:
        self.d = dialer
        self._queue = queue
        self._hub = hub
        self._voice = voice
        self._moh = moh_class
        self.legs: dict[str, AgentLeg] = {}

    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """The router offered a callback contact to ``agent``: ring their phone, pop it."""
        leg_id = ids.make(Kind.CALLBACK_AGENT_LEG, contact.id, contact.offer_count)
        async with self.d.sessions() as s:
            cb = await repo.by_contact(s, contact.id)
            row = await contacts_repo.get(s, contact.id, agent.tenant_id)
            if cb is None or row is None or cb.status != "queued" or row.state != "offered":
                await s.rollback()  # cancelled or moved meanwhile: not to be placed now
                await self._queue.withdraw(contact.id)
                return
            row.agent_channel_id = leg_id
            queue = await tenants_repo.queue(s, row.tenant_id, row.queue_id)
            pop = await screen_pop(s, row, self.d.now())
            await s.commit()
        al = AgentLeg(leg_id, contact.id, cb.id, agent)
        self.legs[leg_id] = al
        if self._hub.connected(agent.id):
            # The agent takes it on the phone: the page shows it as a call (no accept or
            # complete buttons, which would bypass the phone legs), with the record and page.
            await self._hub.send(agent.id, {"type": "offer", "contact": {**pop, "medium": "voice",
                                                                         "callback": True}})
        log.info("callback %s: ringing agent %s before calling %s", cb.id, agent.id, cb.phone)
        try:
            await dial(self.d.ari, self.d.bandwidth, agent.tenant_id,
                       f"PJSIP/{agent.phone_username}", leg_id, app_args=("cbagent", contact.id),
                       timeout=queue.ring_timeout_s if queue else 15,
                       caller_id=contact.caller_number or "")
        except AriError as exc:
            log.warning("callback %s: ringing agent %s failed: %s", cb.id, agent.id, exc)
            await self.gone(leg_id, None)

    async def answered(self, channel_id: str, contact_id: str) -> None:
        al = self.legs.get(channel_id)
        if al is None or al.contact_id != contact_id:
            await self.d.safe(self.d.ari.hangup(channel_id, reason="normal"))
            return
        async with self.d.lock(al.callback_id):
            al.answered = True
            await self.d.safe(self.d.ari.start_moh(channel_id, self._moh))
            async with self.d.sessions() as s:
                claimed = await repo.claim(s, al.callback_id, "queued", "dialing", self.d.node)
                await s.commit()
            attempt_id = await self.d.place(al.callback_id, agent_leg=al) if claimed else None
            if attempt_id is None:
                # Cancelled, moved or deferred meanwhile: that move's commands let her go
                # (her page, the queue); her leg is hung up if it is still up.
                await self.d.hang_up_agent(al.callback_id)

    async def bridge(self, leg: Leg, al: AgentLeg) -> None:
        now = self.d.now()
        async with self.d.sessions() as s:
            cb = await repo.get(s, leg.callback_id, for_update=True)
            contact = await contacts_repo.get(s, al.contact_id, for_update=True)
            if cb is None or contact is None or contact.state != "offered":
                return
            cb.status, cb.ended_at = "done", now
            await contacts_repo.apply(s, contact, Fact.CUSTOMER_ANSWERED, at=now, medium="voice",
                                           channel_id=leg.attempt_id, agent_channel_id=al.channel_id)
            await s.commit()
        self.d.legs.pop(leg.attempt_id, None)
        self.legs.pop(al.channel_id, None)
        await self.d.safe(self.d.ari.stop_moh(al.channel_id))
        log.info("callback %s: customer answered; bridging with agent %s", cb.id, al.agent.id)
        await self._voice.adopt_connected(contact, al.agent.id, al.channel_id)

    async def gone(self, channel_id: str, cause: int | None) -> None:
        al = self.legs.pop(channel_id, None)
        if al is None:
            return  # not ours, or handed to the voice ACD
        async with self.d.lock(al.callback_id):
            if al.attempt_id is None:
                log.info("callback %s: agent %s did not take it (cause %s)", al.callback_id,
                         al.agent.id, cause)
                async with self.d.sessions() as s:
                    contact = await contacts_repo.get(s, al.contact_id)
                if contact is not None:  # the offer is declined (the move: its requeue)
                    declined = lifecycle.move(State.OFFERED, Fact.DECLINED).commands
                    await self.d.service.executor.carry_out(
                        Followup(al.callback_id, contact, declined, al.agent.id),
                        missed=not al.answered)
                return
            leg = self.d.legs.get(al.attempt_id)
            if leg is not None:
                leg.agent_leg = None
            # The attempt ends with the agent gone: its move withdraws and dequeues.
            await self.d.ended(al.attempt_id, "agent-gone")
            await self.d.safe(self.d.ari.hangup(al.attempt_id, reason="normal"))
