"""A queued call offered to an agent: ring the agent's phone (a stable id per offer, with
the screen pop on the agent's page), then bridge caller and agent when the agent answers;
back to the queue when the agent does not.

Every state change is saved (in the hot path's shared commits) before Asterisk is told.
The caller of each method holds the call's lock, except :meth:`Offers.deliver` and
:meth:`Offers.agent_answered`, which take it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import Pages
from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.contacts import lifecycle, repo
from ccari.contacts.lifecycle import Command, Fact
from ccari.contacts.screenpop import screen_pop
from ccari.contacts.services import QueueService
from ccari.routing import Medium
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Agent, Contact, ContactMeta
from ccari.voice import moves
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import Hold, safe
from ccari.voice.ports import LegPlan, LegPlanner, PlanNothing, leg_formats

log = logging.getLogger(__name__)

LEG_HEADER = "PJSIP_HEADER(add,X-Ccari-Leg)"
PEER_HEADER = "PJSIP_HEADER(add,X-Ccari-Peer)"
FORMATS_HEADER = "PJSIP_HEADER(add,X-Ccari-Formats)"


def dial_target(plan: LegPlan, call: Call, phone: str) -> tuple[str, dict[str, str], str | None]:
    """The endpoint, extra channel variables and formats of an agent leg: the phone itself,
    or, when the leg goes out from another node's Asterisk (``plan.via``), that node's
    ``ccari-peer`` endpoint with the key it takes and the codecs to ring the phone with."""
    formats = ",".join(leg_formats(plan, video=call.medium is Medium.VIDEO)) or None
    if plan.via is None:
        return f"PJSIP/{phone}", {}, formats
    host = plan.via.sip_uri.removeprefix("sip:")
    return (f"PJSIP/ccari-peer/sip:leg-{phone}@{host}",
            {PEER_HEADER: plan.via.key, FORMATS_HEADER: formats or ""}, None)


def agent_channel_of(contact: Contact) -> str:
    """The stable id of the agent leg of an offer: one per offer, so an originate is never
    repeated under the same id and a restarted ccari finds the leg of the pending offer."""
    return ids.make(Kind.AGENT_LEG, contact.id, contact.offer_count)


class Offers:
    def __init__(self, ari: AriClient, sessions: async_sessionmaker[AsyncSession],
                 calls: CallRegistry, queue: QueueService, hub: Pages, hold: Hold,
                 writes: GroupCommit, now: Callable[[], dt.datetime],
                 legs: LegPlanner | None = None) -> None:
        self._ari = ari
        # Each agent leg's media node and codec, and its bandwidth counted till it ends.
        self._legs: LegPlanner = legs or PlanNothing()
        self._sessions = sessions
        self._calls = calls
        self._queue = queue
        self._hub = hub
        self._hold = hold
        self._writes = writes
        self._now = now
        # Told each call once it is bridged (under the call's lock): a context that acts on
        # the bridge (recording).  One failing is logged; the call goes on.
        self.on_connected: list[Callable[[Call], Awaitable[None]]] = []

    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """Deliverer for voice: ring the agent's phone with a stable channel id."""
        call = self._calls.by_contact(contact.id)
        if call is None:
            await self._queue.offer_failed(contact, missed=False)
            return
        async with call.lock:
            if call.phase != "queued":
                return
            agent_channel = agent_channel_of(contact)
            plan = await self._legs.place(agent.tenant_id, agent.id, agent.site_id,
                                          agent.device, agent_channel,
                                          here=call.medium is Medium.VIDEO)
            if plan is None:
                # Her site's link has no room left for a call: not her miss, the call
                # waits in its place for an agent elsewhere.
                log.info("contact %s: agent %s's site has no bandwidth left", contact.id, agent.id)
                await self._queue.offer_failed(contact, missed=False)
                return
            call.phase = "offered"
            call.agent_id = agent.id
            call.agent_via = plan.node if plan.via is not None else None
            call.agent_rang = False
            call.codec = None if plan.codec is None else {
                "name": plan.codec, "label": plan.label, "kbps": plan.kbps}
            self._calls.link_agent_channel(call, agent_channel)
            if self._hub.connected(agent.id):
                await self._push_offer(call, agent)
            endpoint, via, formats = dial_target(plan, call, agent.phone_username)
            try:
                await self._ari.originate(
                    endpoint, channel_id=agent_channel,
                    app_args=("agent", contact.id), timeout=call.settings.ring_timeout_s,
                    caller_id=contact.caller_number or "",
                    # The leg's stable id travels in the INVITE: one per offer, never twice.
                    variables={LEG_HEADER: agent_channel, **plan.variables, **via},
                    formats=formats,
                )
            except AriError as exc:
                # Asterisk could not place the ring (down, restarting, refusing): her phone
                # never rang, so it is not her miss; the call waits for the next agent.
                log.warning("contact %s: ringing agent %s failed: %s", contact.id, agent.id, exc)
                await self._legs.release(agent_channel)
                await self.offer_failed(call, missed=False)

    async def _push_offer(self, call: Call, agent: Agent) -> None:
        async with self._sessions() as s:
            contact = await repo.get(s, call.contact_id, agent.tenant_id)
            if contact is None:
                return
            pop = await screen_pop(s, contact, self._now())
        if call.codec is not None:  # the codec her phone is rung with
            pop["codec"] = call.codec
        await self._hub.send(agent.id, {"type": "offer", "contact": pop})

    async def offer_failed(self, call: Call, *, missed: bool = True) -> None:
        """Agent did not answer (or could not be rung: not ``missed``): the lifecycle's
        commands for a declined offer: withdraw it from the agent's page, requeue (back in
        front; a missed one makes the agent not ready).  A leg through another node's
        Asterisk that failed before her phone rang is that hop's failure, not her miss: no
        leg goes that way for a while."""
        if missed and call.agent_via is not None and not call.agent_rang:
            log.warning("contact %s: the leg through node %s failed before agent %s's phone "
                        "rang: not her miss", call.contact_id, call.agent_via, call.agent_id)
            self._legs.unreachable(call.agent_via)
            missed = False
        call.agent_via = None
        async with self._sessions() as s:
            contact = await repo.get(s, call.contact_id)
        self._calls.unlink_agent_channel(call)
        offered = call.phase == "offered"
        commands = lifecycle.move("offered", Fact.DECLINED).commands
        if Command.WITHDRAW in commands and call.agent_id is not None:
            await self._hub.send(call.agent_id, {"type": "withdrawn", "contact_id": call.contact_id})
        call.agent_id = None
        if contact is None or not offered:
            return
        call.phase = "queued"
        if Command.REQUEUE in commands:
            await self._queue.offer_failed(contact, missed=missed)
            if contact.meta.get("reserved_agent"):
                await self._unreserve(contact.id)

    async def _unreserve(self, contact_id: str) -> None:
        """A call handed to a colleague by name that she did not take: it waits for its
        skills again, in its place (its queue time is kept)."""
        async with self._sessions() as s:
            row = await repo.get(s, contact_id, for_update=True)
            if row is None or row.state != lifecycle.State.QUEUED:
                return
            meta: ContactMeta = {**row.meta}
            agent = meta.pop("reserved_agent", None)
            await repo.update(s, row, "transfer-unanswered", at=self._now(), meta=meta)
            await s.commit()
        await self._queue.route_afresh(row)
        log.info("contact %s: agent %s did not take the transfer: back to the queue",
                 contact_id, agent)

    async def recall(self, contact: Contact, agent: Agent) -> None:
        """She logs out while her phone rings with this call: the ring ends, not her miss,
        and the caller is back in front of the queue."""
        call = self._calls.by_contact(contact.id)
        if call is None:
            return  # not carried here any more: its end tells the queue
        async with call.lock:
            leg = call.agent_channel_id
            if call.phase != "offered" or call.agent_id != agent.id:
                return
            await self.offer_failed(call, missed=False)  # (her leg's end is no miss then)
        if leg is not None:
            await safe(self._ari.hangup(leg, reason="normal"))

    async def requeue(self, call: Call) -> None:
        """Before the queue is rebuilt: an offer from a previous process goes back to queued."""
        await self._writes.run(functools.partial(moves.requeued, contact_id=call.contact_id,
                                                 at=self._now()))
        self._calls.unlink_agent_channel(call)
        call.phase, call.agent_id = "queued", None
        self._hold.start(call)

    def ringing(self, agent_channel: str) -> None:
        """Her phone rings (the leg's channel says so)."""
        call = self._calls.by_channel(agent_channel)
        if call is not None and call.agent_channel_id == agent_channel:
            call.agent_rang = True

    async def agent_answered(self, agent_channel: str, contact_id: str) -> None:
        call = self._calls.by_contact(contact_id)
        if call is None or call.agent_channel_id != agent_channel or call.phase != "offered":
            await safe(self._ari.hangup(agent_channel, reason="normal"))
            return
        async with call.lock:
            await self.connect(call)

    async def connect(self, call: Call) -> None:
        assert call.agent_channel_id is not None
        call.cancel_timers()
        bridge = ids.make(Kind.BRIDGE, call.contact_id)
        now = self._now()

        if await self._writes.run(functools.partial(
                moves.answered, contact_id=call.contact_id, at=now, bridge_id=bridge,
                agent_channel_id=call.agent_channel_id)) is None:
            # The caller left as the agent answered: the agent's leg ends, nobody is bridged.
            await safe(self._ari.hangup(call.agent_channel_id, reason="normal"))
            return
        call.phase, call.bridge_id = "connected", bridge
        # The music stops while the bridge is made: one wait for Asterisk, not three.
        await asyncio.gather(self._hold.release(call), self._bridge(bridge, call))
        await self._queue.accepted(call.contact_id)
        if call.agent_id is not None:
            await self._hub.send(call.agent_id, {"type": "connected", "contact_id": call.contact_id})
        log.info("contact %s connected to agent %s", call.contact_id, call.agent_id)
        for listener in self.on_connected:
            try:
                await listener(call)
            except Exception:
                log.exception("contact %s: a listener of the connect failed", call.contact_id)

    async def _bridge(self, bridge: str, call: Call) -> None:
        assert call.agent_channel_id is not None
        # One mixing bridge for voice and video: with its two parties Asterisk runs it as a
        # one-to-one bridge (simple or native RTP) that forwards each stream as it comes, the
        # video too (VP8 both sides: never decoded).  Not ``video_sfu``: its extra receive-only
        # streams carry no RTP from the browsers, and the dead-call timeout hangs them up.
        await safe(self._ari.create_bridge(bridge, type="mixing"))
        await safe(self._ari.add_channel(bridge, [call.channel_id, call.agent_channel_id]))
