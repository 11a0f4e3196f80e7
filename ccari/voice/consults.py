"""Consultative transfer: the agent calls a colleague, a skill (the most proficient colleague
with it who is ready now) or an outside number while the caller waits on hold with the
music, talks with them in a bridge of their own, then

* **completes** it: the caller joins the consulted party in the call's bridge, the agent's
  leg ends and she goes to wrap-up; that party is the call's other side from then on (its
  hanging up ends the call);
* **cancels** it: the consulted party is hung up, the caller is back with the agent;
* or makes it a **three-way** call: all three in the call's mixing bridge; the consulted
  party may leave, the call goes on with the agent.

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
call's screen pop (the same customer and history) while her leg lasts.  Every step is in the contact's
event log; each command takes the call's lock like the other controls.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ccari.agents.commands import AgentCommands, field
from ccari.agents.commands import Command as AgentCommand
from ccari.agents.notifier import AgentHub
from ccari.ari import ids
from ccari.ari.errors import AriConflict, AriError
from ccari.ari.ids import Kind
from ccari.ari.models import Bridge, Channel
from ccari.ari.router import StasisRouter
from ccari.contacts import repo
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, CcariError, Conflict
from ccari.storage.models import Agent, ContactMeta
from ccari.voice import consult_rules as rules
from ccari.voice.calls import Call
from ccari.voice.colleagues import Colleagues
from ccari.voice.controls import call_of, connected, save_agent_left
from ccari.voice.hold import safe
from ccari.voice.legs import dial, register_legs
from ccari.voice.transfer_targets import (
    ToAgent,
    ToNumber,
    ToSkill,
    target_of,
)
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
        self._queue = queue
        self._transfers = transfers
        self._by_contact: dict[str, Consult] = {}
        # The colleagues it rings: out of the queue's offers, the call's pop on their page.
        self.colleagues = Colleagues(voice.sessions, queue, hub, voice.now)
        voice.agent_part_over.append(self.call_over)
        voice.page_views.append(self.page_view)

    @property
    def _ari(self) -> AriClient:
        return self._voice.ari

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

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register("call.consult", self._cmd_consult)
        commands.register("call.consult_complete", self._cmd(self.complete))
        commands.register("call.consult_cancel", self._cmd(self.cancel))
        commands.register("call.consult_conference", self._cmd(self.conference))

    def _cmd(self, action: Any) -> AgentCommand:
        async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any] | None:
            call = call_of(self._voice, agent, field(msg, "contact_id"))
            async with call.lock:
                connected(call)
                consult = self._by_contact.get(call.contact_id)
                if consult is None or consult.joined:
                    raise Conflict("there is no consult under way", error_id="not-consulting")
                reply: dict[str, Any] = await action(agent, call, consult)
                return reply

        return handler

    # ---- start -----------------------------------------------------------------------------
    async def _cmd_consult(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        if msg.get("skill") is None and msg.get("agent") is None and msg.get("number") is None:
            raise BadRequest("name a skill, a colleague (agent) or a number",
                             error_id="bad-transfer")
        target = target_of(msg)
        call = call_of(self._voice, agent, contact_id)
        try:
            return await self.consult(agent, call, target)
        except CcariError as exc:
            if exc.status < 500:
                await self._log(call, "consult-refused", agent_id=agent.id, error=exc.error_id)
            raise

    async def consult(self, agent: Agent, call: Call, target: ToAgent | ToSkill | ToNumber
                      ) -> dict[str, Any]:
        """Ring ``target`` for a consult (a skill: the colleague chosen for it)."""
        if call.contact_id in self._by_contact:  # first (again under the call's lock)
            raise Conflict("a consult is under way", error_id="consult-in-progress")
        caller_id, to, colleague = "", {}, None
        if not isinstance(target, ToNumber):
            other = await self.colleagues.choose(agent, target)
            endpoint, to = f"PJSIP/{other.phone_username}", {"agent": other.username}
            if isinstance(target, ToSkill):
                to["skill"] = target.skill
            colleague = other.id
        else:
            dest, caller_id = await self._transfers.destination(agent.tenant_id, target.number,
                                                                path="consult")
            endpoint, to = self._transfers.endpoint(dest), {"number": dest.e164}
        contact_id = call.contact_id
        async with call.lock:
            connected(call)
            if contact_id in self._by_contact:
                raise Conflict("a consult is under way", error_id="consult-in-progress")
            async with self._voice.sessions() as s:
                row = await repo.get(s, contact_id, agent.tenant_id)
            if row is None or not call.agent_channel_id or not call.bridge_id:
                raise Conflict("the call has moved on", error_id="illegal-transition")
            n = len(row.meta.get("consults", [])) + 1
            consult = Consult(contact_id, ids.make(Kind.CONSULT_LEG, contact_id, n),
                              ids.make(Kind.CONSULT_BRIDGE, contact_id, n), to,
                              outside=isinstance(target, ToNumber))
            if consult.outside:
                await self._transfers.admit(agent.tenant_id, consult.leg)
            else:  # no queued work for her from now on
                await self.colleagues.engage(consult.leg, colleague)
            try:
                await self._save(call, agent, consult)  # committed before it is dialled
            except BaseException:
                await self._transfers.release(consult.leg)
                await self.colleagues.disengage(consult.leg)
                raise
            self._by_contact[contact_id] = consult
            await self.colleagues.pop(consult.leg, row, agent)
            await self._hold_caller(call)
            ari = self._ari
            await safe(ari.create_bridge(consult.bridge, type="mixing"))
            await safe(ari.remove_channel(call.bridge_id, call.agent_channel_id))
            await safe(ari.add_channel(consult.bridge, call.agent_channel_id))
            try:
                await dial(ari, self._voice.legs, agent.tenant_id, endpoint, consult.leg,
                           app_args=(STASIS_ARG, contact_id),
                           timeout=self._transfers.ring_s, caller_id=caller_id or None)
            except AriConflict:
                log.info("contact %s: consult leg %s was dialled already", contact_id, consult.leg)
            except AriError as exc:
                log.warning("contact %s: consult leg %s not dialled: %s", contact_id,
                            consult.leg, exc)
                await self._back_to_agent(call, consult, "dial-failed")
                await self.colleagues.disengage(consult.leg)
                raise Conflict("the consult could not be dialled",
                               error_id="consult-failed") from None
        log.info("contact %s: agent %s consults %s (leg %s)", contact_id, agent.id, to,
                 consult.leg)
        return {"type": "consulting", "contact_id": contact_id}

    async def _save(self, call: Call, agent: Agent, consult: Consult) -> None:
        async with self._voice.sessions() as s:
            row = await repo.get(s, call.contact_id, agent.tenant_id, for_update=True)
            if row is None:
                raise Conflict("the call has moved on", error_id="illegal-transition")
            meta: ContactMeta = {**row.meta, "consults": [
                *row.meta.get("consults", []),
                {"agent_id": agent.id, "to": consult.to, "leg": consult.leg}]}
            row.meta = meta
            await repo.log(s, row, "consult-dialling", self._voice.now(), agent_id=agent.id,
                           to=consult.to, leg=consult.leg)
            await s.commit()

    # ---- the agent's choices ---------------------------------------------------------------
    async def complete(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """The caller joins the consulted party; the agent leaves to wrap-up."""
        if not consult.answered:
            raise Conflict("the consulted party has not answered", error_id="consult-not-answered")
        await save_agent_left(self._voice, call, agent.id, "consult-completed",
                              leg=consult.leg)
        del self._by_contact[call.contact_id]
        agent_leg, ari = call.agent_channel_id, self._ari
        self._voice.calls.unlink_agent_channel(call)  # its hang-up is ours, not an end
        call.agent_channel_id, call.agent_id, call.muted = consult.leg, None, False
        self._transfers.adopt(consult.leg)
        await safe(ari.remove_channel(consult.bridge, consult.leg))
        await self._resume_caller(call, with_leg=consult.leg)
        if agent_leg:
            await self._voice.hangup(agent_leg)
        await safe(ari.destroy_bridge(consult.bridge))
        await self._voice.left_agent(call.contact_id)
        await self._queue.completed(call.contact_id, agent.id, call.settings.wrap_up_s)
        log.info("contact %s: consult completed, agent %s leaves", call.contact_id, agent.id)
        return {"type": "transferred", "contact_id": call.contact_id}

    async def cancel(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """The consulted party is hung up; the caller is back with the agent."""
        await self._back_to_agent(call, consult, "cancelled", agent_id=agent.id)
        return {"type": "consult-cancelled", "contact_id": call.contact_id}

    async def conference(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """All three in the call's mixing bridge."""
        if not consult.answered:
            raise Conflict("the consulted party has not answered", error_id="consult-not-answered")
        assert call.bridge_id is not None and call.agent_channel_id is not None
        await self._log(call, "consult-conference", agent_id=agent.id, leg=consult.leg)
        consult.joined = True
        ari = self._ari
        await safe(ari.remove_channel(consult.bridge, [call.agent_channel_id, consult.leg]))
        await safe(ari.add_channel(call.bridge_id, [call.agent_channel_id, consult.leg]))
        await self._resume_caller(call)
        await safe(ari.destroy_bridge(consult.bridge))
        log.info("contact %s: three-way call with %s", call.contact_id, consult.leg)
        return {"type": "conferenced", "contact_id": call.contact_id}

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
            await self._log(call, "consult-answered", leg=leg)
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
                await self._log(call, "consult-left", leg=leg)
            else:
                why = "hung-up" if consult.answered else "no-answer"
                await self._back_to_agent(call, consult, why, gone=True)

    async def call_over(self, contact_id: str) -> None:
        """The call's agent part is over (the caller or the agent hung up): the consult
        ends with it (the caller of this holds the call's lock)."""
        consult = self._by_contact.pop(contact_id, None)
        if consult is None:
            return
        await safe(self._ari.hangup(consult.leg, reason="normal"))
        await safe(self._ari.destroy_bridge(consult.bridge))
        log.info("contact %s: consult %s ended with the call", contact_id, consult.leg)

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
            await self._log(call, "consult-left", leg=logged.leg, reason="lost")
        elif step is not rules.Step.NOTHING:
            self._by_contact[call.contact_id] = consult
            if leg is not None:
                await self.colleagues.engage(consult.leg, colleague)
        if step is rules.Step.BACK_TO_AGENT:
            await self._back_to_agent(call, consult, "lost", gone=True)
        elif step is rules.Step.JOINED:
            await self._move([logged.leg], call.bridge_id, bridges)
        elif step in (rules.Step.RINGING, rules.Step.ANSWERED):
            if step is rules.Step.ANSWERED and logged.phase is rules.Phase.DIALLING:
                await self._log(call, "consult-answered", leg=logged.leg)
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

    # ---- helpers ---------------------------------------------------------------------------
    async def _back_to_agent(self, call: Call, consult: Consult, why: str, *, gone: bool = False,
                             **data: Any) -> None:
        await self._log(call, "consult-ended", reason=why, leg=consult.leg, **data)
        self._by_contact.pop(call.contact_id, None)
        ari = self._ari
        if not gone:
            await safe(ari.hangup(consult.leg, reason="normal"))
        if call.agent_channel_id and call.bridge_id:
            await safe(ari.remove_channel(consult.bridge, call.agent_channel_id))
            await safe(ari.add_channel(call.bridge_id, call.agent_channel_id))
        await self._resume_caller(call)
        await safe(ari.destroy_bridge(consult.bridge))
        if call.agent_id is not None and why != "cancelled":
            await self._voice_hub_send(call.agent_id, {"type": "consult-ended",
                                                       "contact_id": call.contact_id})
        log.info("contact %s: consult %s ended (%s)", call.contact_id, consult.leg, why)

    async def _hold_caller(self, call: Call) -> None:
        """As the agent's hold: out of the bridge, with the music (already, if held)."""
        if call.held_at is not None:
            return
        call.held_at = time.monotonic()
        if call.bridge_id:
            await safe(self._ari.remove_channel(call.bridge_id, call.channel_id))
        await safe(self._ari.start_moh(call.channel_id, self._voice.config.moh_class))
        call.moh = True

    async def _resume_caller(self, call: Call, with_leg: str | None = None) -> None:
        if call.held_at is not None:
            call.hold_s, call.held_at = call.hold_total(time.monotonic()), None
        await safe(self._ari.stop_moh(call.channel_id))
        call.moh = False
        if call.bridge_id:
            legs = [call.channel_id, *([with_leg] if with_leg else [])]
            await safe(self._ari.add_channel(call.bridge_id, legs))

    async def _voice_hub_send(self, agent_id: int, message: dict[str, Any]) -> None:
        await self._hub.send(agent_id, message)

    async def _log(self, call: Call, kind: str, **data: Any) -> None:
        async with self._voice.sessions() as s:
            contact = await repo.get(s, call.contact_id, call.tenant_id)
            if contact is not None:
                await repo.log(s, contact, kind, self._voice.now(), **data)
                await s.commit()


def register(ari: AriClient, router: StasisRouter, consults: Consults) -> None:
    """The consults' declaration to the Stasis router: the consulted legs are theirs."""
    register_legs(ari, router, "consults", STASIS_ARG, Kind.CONSULT_LEG, consults,
                  also=(Kind.CONSULT_BRIDGE,))
