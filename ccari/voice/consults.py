"""Consultative transfer: the agent calls a colleague, a skill (the most proficient colleague
with it who is ready now) or an outside number while the caller waits on hold with the
music, talks with them in a bridge of their own, then

* **completes** it: the caller joins the consulted party in the call's bridge, the agent's
  leg ends and she goes to wrap-up; that party is the call's other side from then on (its
  hanging up ends the call);
* **cancels** it: the consulted party is hung up, the caller is back with the agent;
* or makes it a **three-way** call: all three in the call's mixing bridge; the consulted
  party may leave, the call goes on with the agent.

On a video call the consult is on video with a colleague who can take video (her leg rung
with the video codec), on audio with anyone else, and completes only to a colleague who can
take video (``consult_commands.py``); a three-way video call follows the talker (the
mixing bridge's own video mode).

The consulted leg has a stable id (``cns-<contact>-<n>``), committed in the contact's log
with the consult before it is dialled; an outside number passes the toll-fraud guard and
trunk admission first (``transfers.py``).  The consult's own bridge is ``cnb-<contact>-<n>``
(the call's recording, on the call's bridge, does not hear the consult).  If the consulted
party does not answer or hangs up before a complete or a three-way, the caller is back with
the agent.  The caller or the agent hanging up ends the call, and with it the consult (its
leg, its bridge).  A consulted colleague is kept out of the queue's offers (not ready,
``in_call``) from the moment her phone rings until her leg is gone (after a complete, until
she leaves the call); the agent's hold and resume are refused while the consult is under way
(409 ``consult-in-progress``: the caller is already held).  The colleague's page shows the
call's screen pop (the same customer and history) while her leg lasts.  Every step is in the
contact's event log.

The agent's commands (start, complete, cancel, three-way) are ``consult_commands.py``; this
module has the consults under way: what Asterisk tells of their legs, the call's end taking
its consult with it, their rebuilding after a restart, and how a consult ends with the
caller back with the agent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ccari.agents.notifier import AgentHub
from ccari.ari import ids
from ccari.ari.ids import Kind
from ccari.ari.models import Bridge, Channel
from ccari.ari.router import StasisRouter
from ccari.contacts import repo
from ccari.contacts.services import QueueService
from ccari.storage.models import Agent
from ccari.voice import consult_rules as rules
from ccari.voice.calls import Call
from ccari.voice.colleagues import Colleagues
from ccari.voice.hold import safe
from ccari.voice.legs import register_legs
from ccari.voice.transfers import Transfers

if TYPE_CHECKING:
    from ccari.ari import AriClient
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
STASIS_ARG = "consult"


@dataclass
class Consult:
    contact_id: str
    leg: str
    bridge: str
    to: dict[str, str]
    outside: bool  # an outside number (its trunk is freed when the leg is gone)
    answered: bool = False
    joined: bool = False  # three-way: the leg is in the call's bridge


class Consults:
    def __init__(self, voice: VoiceService, queue: QueueService, hub: AgentHub,
                 transfers: Transfers) -> None:
        self._voice = voice
        self._hub = hub
        self._transfers = transfers
        self._by_contact: dict[str, Consult] = {}
        # The colleagues it rings: out of the queue's offers, the call's pop on their page.
        self.colleagues = Colleagues(voice.sessions, queue, hub, voice.now)
        voice.agent_part_over.append(self.call_over)
        voice.page_views.append(self.page_view)

    @property
    def _ari(self) -> AriClient:
        return self._voice.ari

    # ---- the consults under way -----------------------------------------------------------
    def of(self, contact_id: str) -> Consult | None:
        """The call's consult under way (three-way included), if any."""
        return self._by_contact.get(contact_id)

    def add(self, consult: Consult) -> None:
        """A consult started (saved, its leg about to be dialled)."""
        self._by_contact[consult.contact_id] = consult

    def remove(self, consult: Consult) -> None:
        """A consult completed: its leg is the call's other side from now on."""
        del self._by_contact[consult.contact_id]

    def under_way(self, contact_id: str) -> bool:
        """The agent is consulting (the caller held), not yet three-way."""
        consult = self._by_contact.get(contact_id)
        return consult is not None and not consult.joined

    async def page_view(self, call: Call) -> list[dict[str, Any]]:
        """The consult under way, as its agent's page heard it: calling, consulting, or
        three-way."""
        consult = self._by_contact.get(call.contact_id)
        if consult is None:
            return []
        steps = ["conferenced"] if consult.joined else \
            ["consulting", "consult-answered"] if consult.answered else ["consulting"]
        return [{"type": step, "contact_id": call.contact_id} for step in steps]

    # ---- Asterisk's side -------------------------------------------------------------------
    async def answered(self, leg: str, contact_id: str) -> None:
        consult = self._by_contact.get(contact_id)
        call = self._voice.calls.by_contact(contact_id)
        if consult is None or call is None or consult.leg != leg:
            await self._voice.hangup(leg)
            return
        async with call.lock:
            if self._by_contact.get(contact_id) is not consult:
                await self._voice.hangup(leg)
                return
            consult.answered = True
            await self.log_event(call, "consult-answered", leg=leg)
            await safe(self._ari.add_channel(consult.bridge, leg))
        await self.colleagues.answered(leg, contact_id)
        if call.agent_id is not None:
            await self._voice_hub_send(call.agent_id, {"type": "consult-answered",
                                                       "contact_id": contact_id})

    async def leg_gone(self, leg: str) -> None:
        """The consulted leg ended: before a complete or a three-way, the caller is back
        with the agent; in a three-way call, it only leaves."""
        await self.colleagues.disengage(leg)
        contact_id = ids.rest_of(leg, Kind.CONSULT_LEG).rpartition("-")[0]
        consult = self._by_contact.get(contact_id)
        if consult is None or consult.leg != leg:
            await self._transfers.leg_gone(leg)  # after a complete: the call's other side
            return
        if consult.outside:
            await self._transfers.release(leg)
        call = self._voice.calls.by_contact(contact_id)
        if call is None:
            self._by_contact.pop(contact_id, None)
            return
        async with call.lock:
            if self._by_contact.get(contact_id) is not consult:
                return
            if consult.joined:
                del self._by_contact[contact_id]
                await self.log_event(call, "consult-left", leg=leg)
            else:
                why = "hung-up" if consult.answered else "no-answer"
                await self.back_to_agent(call, consult, why, gone=True)

    async def call_over(self, contact_id: str) -> None:
        """The call's agent part is over (the caller or the agent hung up): the consult
        ends with it (the caller of this holds the call's lock)."""
        consult = self._by_contact.pop(contact_id, None)
        if consult is None:
            return
        await safe(self._ari.hangup(consult.leg, reason="normal"))
        await safe(self._ari.destroy_bridge(consult.bridge))
        log.info("contact %s: consult %s ended with the call", contact_id, consult.leg)

    # ---- restart, reconnect ---------------------------------------------------------------
    async def reconcile(self) -> None:
        """After an ARI (re)connect: the consult of each connected call this process has
        without one is rebuilt from the contact's log and Asterisk (``consult_rules.py``);
        consult legs and bridges nobody owns then (not a completed consult's call leg)
        are ended."""
        ari = self._ari
        channels = {c.id: c for c in await ari.list_channels()}
        bridges = {b.id: b for b in await ari.list_bridges()}
        for call in self._voice.calls.all():
            if call.phase == "connected" and call.contact_id not in self._by_contact:
                async with call.lock:
                    await self._rebuild(call, channels, bridges)
        legs = {c.leg for c in self._by_contact.values()}
        for ch in channels:
            if ids.kind_of(ch) is Kind.CONSULT_LEG and ch not in legs:
                owner = self._voice.calls.by_contact(
                    ids.rest_of(ch, Kind.CONSULT_LEG).rpartition("-")[0])
                if owner is None or owner.agent_channel_id != ch:
                    await safe(ari.hangup(ch, reason="normal"))
        kept = {c.bridge for c in self._by_contact.values()}
        for br in bridges:
            if ids.kind_of(br) is Kind.CONSULT_BRIDGE and br not in kept:
                await safe(ari.destroy_bridge(br))

    async def _rebuild(self, call: Call, channels: dict[str, Channel],
                       bridges: dict[str, Bridge]) -> None:
        """One call's consult, as its log left it and Asterisk has it (the call's lock held;
        the caller's hold is the voice reconcile's)."""
        async with self._voice.sessions() as s:
            row = await repo.get(s, call.contact_id, call.tenant_id)
            if row is None or not call.bridge_id or not call.agent_channel_id:
                return
            logged = rules.logged_consult(row.meta.get("consults", []), [
                (e.kind, e.data or {}) for e in await repo.events(s, call.tenant_id, row.id)
                if e.kind in rules.PHASES])
            colleague = await s.scalar(select(Agent.id).where(
                Agent.tenant_id == call.tenant_id, Agent.username == logged.to["agent"])
            ) if logged is not None and "agent" in logged.to else None
        if logged is None:
            return
        leg, agent_leg, ari = channels.get(logged.leg), call.agent_channel_id, self._ari
        home = bridges.get(call.bridge_id)
        step = rules.decide(logged.phase, leg.state if leg is not None else None,
                            agent_in_call=home is not None and agent_leg in home.channels)
        if step is not rules.Step.NOTHING:
            log.info("reconcile: contact %s: consult %s: %s", call.contact_id, logged.leg,
                     step.value)
        consult = Consult(call.contact_id, logged.leg,
                          ids.make(Kind.CONSULT_BRIDGE, call.contact_id, logged.n),
                          dict(logged.to), outside=logged.outside,
                          answered=step in (rules.Step.ANSWERED, rules.Step.JOINED),
                          joined=step is rules.Step.JOINED)
        if logged.phase is rules.Phase.OVER and agent_leg == logged.leg:  # completed
            self._transfers.adopt(logged.leg)  # its hanging up ends the call
            await self.colleagues.engage(logged.leg, colleague)
        if step is rules.Step.AGENT_HOME:
            await self._move([agent_leg], call.bridge_id, bridges)
        elif step is rules.Step.LEFT:
            await self.log_event(call, "consult-left", leg=logged.leg, reason="lost")
        elif step is not rules.Step.NOTHING:
            self._by_contact[call.contact_id] = consult
            if leg is not None:
                await self.colleagues.engage(consult.leg, colleague)
        if step is rules.Step.BACK_TO_AGENT:
            await self.back_to_agent(call, consult, "lost", gone=True)
        elif step is rules.Step.JOINED:
            await self._move([logged.leg], call.bridge_id, bridges)
        elif step in (rules.Step.RINGING, rules.Step.ANSWERED):
            if step is rules.Step.ANSWERED and logged.phase is rules.Phase.DIALLING:
                await self.log_event(call, "consult-answered", leg=logged.leg)
            if consult.bridge not in bridges:
                await safe(ari.create_bridge(consult.bridge, type="mixing"))
            await self._move([agent_leg, *([logged.leg] if consult.answered else [])],
                             consult.bridge, bridges)

    async def _move(self, legs: list[str], bridge: str, bridges: dict[str, Bridge]) -> None:
        """Into ``bridge`` the ``legs`` not in it yet, out of the one they are in first."""
        missing = [leg for leg in legs if leg not in getattr(bridges.get(bridge), "channels", ())]
        for other in bridges.values():
            if other.id != bridge and (found := [leg for leg in missing if leg in other.channels]):
                await safe(self._ari.remove_channel(other.id, found))
        if missing:
            await safe(self._ari.add_channel(bridge, missing))

    # ---- what the consult's steps share ----------------------------------------------------
    async def back_to_agent(self, call: Call, consult: Consult, why: str, *, gone: bool = False,
                            **data: Any) -> None:
        """The consult ends (``why``), the caller is back with the agent; ``gone``: its leg
        has hung up already."""
        await self.log_event(call, "consult-ended", reason=why, leg=consult.leg, **data)
        self._by_contact.pop(call.contact_id, None)
        ari = self._ari
        if not gone:
            await safe(ari.hangup(consult.leg, reason="normal"))
        if call.agent_channel_id and call.bridge_id:
            await safe(ari.remove_channel(consult.bridge, call.agent_channel_id))
            await safe(ari.add_channel(call.bridge_id, call.agent_channel_id))
        await self.resume_caller(call)
        await safe(ari.destroy_bridge(consult.bridge))
        if call.agent_id is not None and why != "cancelled":
            await self._voice_hub_send(call.agent_id, {"type": "consult-ended",
                                                       "contact_id": call.contact_id})
        log.info("contact %s: consult %s ended (%s)", call.contact_id, consult.leg, why)

    async def hold_caller(self, call: Call) -> None:
        """As the agent's hold: out of the bridge, with the music (already, if held)."""
        if call.held_at is not None:
            return
        call.held_at = time.monotonic()
        if call.bridge_id:
            await safe(self._ari.remove_channel(call.bridge_id, call.channel_id))
        await safe(self._ari.start_moh(call.channel_id, self._voice.config.moh_class))
        call.moh = True

    async def resume_caller(self, call: Call, with_leg: str | None = None) -> None:
        """Back in the call's bridge (with ``with_leg``), the music off, her hold counted."""
        if call.held_at is not None:
            call.hold_s, call.held_at = call.hold_total(time.monotonic()), None
        await safe(self._ari.stop_moh(call.channel_id))
        call.moh = False
        if call.bridge_id:
            legs = [call.channel_id, *([with_leg] if with_leg else [])]
            await safe(self._ari.add_channel(call.bridge_id, legs))

    async def _voice_hub_send(self, agent_id: int, message: dict[str, Any]) -> None:
        await self._hub.send(agent_id, message)

    async def log_event(self, call: Call, kind: str, **data: Any) -> None:
        """An event in the call's contact log."""
        await self._voice.log_event(call.contact_id, call.tenant_id, kind, **data)


def register(ari: AriClient, router: StasisRouter, consults: Consults) -> None:
    """The consults' declaration to the Stasis router: the consulted legs are theirs."""
    register_legs(ari, router, "consults", STASIS_ARG, Kind.CONSULT_LEG, consults,
                  also=(Kind.CONSULT_BRIDGE,))
