"""The conference controller: the agent adds parties to her call (a colleague by name, or an
outside number through the toll-fraud guard and trunk admission, as for transfers), lists
them, mutes or unmutes one (ARI channel mute, audio in: the others no longer hear it),
removes one (hung up), and may leave the call to the others.

Everyone is in the call's own mixing bridge (it mixes as soon as a third party joins; the
call's recording hears them all).  On a video call a colleague who can take video is rung
with the video codec and joins with her camera; the bridge's video follows the talker.
Each added leg has a stable id (``cnf-<contact>-<n>``) committed in the contact's log
before it is dialled; a colleague is kept out of the queue's offers from the moment her
phone rings until her leg is gone.  The rules (how many parties, when the call goes on) are
``conference_rules.py``; every step is in the contact's event log.

``call.conference_leave``, or her phone hanging up while an added party is in the call, is
how the agent leaves the conference to the others: she goes to wrap-up (her disposition is
taken at once, ``wrapup.py``), the call goes on while the customer and at least one added
party remain (``conference-over`` when the last one leaves), and the customer's leaving
ends it; a supervisor may still listen or barge in (``supervision.py``).  The page's
hang-up command still ends the call for everyone.
"""

from __future__ import annotations

import logging
import time
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
from ccari.errors import BadRequest, CcariError, Conflict, NotFound
from ccari.storage.models import Agent
from ccari.voice import conference_rules as rules
from ccari.voice.calls import Call
from ccari.voice.conference_rules import Conference, Party
from ccari.voice.controls import call_of, connected, save_agent_left
from ccari.voice.hold import safe
from ccari.voice.legs import dial, register_legs
from ccari.voice.transfer_targets import (
    ToAgent,
    ToNumber,
    ToSkill,
    check_colleague,
    target_of,
    video_leg,
)
from ccari.voice.transfers import Transfers

if TYPE_CHECKING:
    from collections.abc import Callable

    from ccari.ari import AriClient
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
STASIS_ARG = "conference"


class Conferences:
    def __init__(self, voice: VoiceService, queue: QueueService, hub: AgentHub,
                 transfers: Transfers, *, consulting: Callable[[str], bool]) -> None:
        self._voice = voice
        self._queue = queue
        self._hub = hub
        self._transfers = transfers
        self._consulting = consulting
        self._by_contact: dict[str, Conference] = {}
        self._legs: dict[str, Party] = {}  # every added leg until it is gone
        voice.agent_part_over.append(self.call_over)
        voice.agent_leaving.append(self.phone_hung_up)
        voice.page_views.append(self.page_view)

    @property
    def _ari(self) -> AriClient:
        return self._voice.ari

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register("call.conference_add", self._cmd_add)
        commands.register("call.conference_list", self._cmd(self._list))
        commands.register("call.conference_mute", self._cmd(self._mute))
        commands.register("call.conference_unmute", self._cmd(self._unmute))
        commands.register("call.conference_remove", self._cmd(self._remove))
        commands.register("call.conference_leave", self._cmd(self._leave))

    def _cmd(self, action: Any) -> AgentCommand:
        async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any] | None:
            call = call_of(self._voice, agent, field(msg, "contact_id"))
            async with call.lock:
                connected(call)
                conf = self._by_contact.setdefault(call.contact_id, Conference(call.contact_id))
                reply: dict[str, Any] = await action(agent, call, conf, msg)
                return reply

        return handler

    # ---- add -------------------------------------------------------------------------------
    async def _cmd_add(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("skill") is not None or (msg.get("agent") is None
                                            and msg.get("number") is None):
            raise BadRequest("name a colleague (agent) or a number", error_id="bad-transfer")
        target = target_of(msg)
        if isinstance(target, ToSkill):  # excluded above
            raise BadRequest("name a colleague (agent) or a number", error_id="bad-transfer")
        call = call_of(self._voice, agent, field(msg, "contact_id"))
        try:
            return await self.add(agent, call, target)
        except CcariError as exc:
            if exc.status < 500:
                await self._log(call, "conference-refused", agent_id=agent.id, error=exc.error_id)
            raise

    async def add(self, agent: Agent, call: Call, target: ToAgent | ToNumber) -> dict[str, Any]:
        contact_id, limit = call.contact_id, self._voice.config.conference_max_parties
        # A full call first (checked again under the call's lock), whoever is asked for.
        rules.check_room(self._by_contact.get(contact_id) or Conference(contact_id), limit)
        caller_id, colleague, video = "", None, False
        if isinstance(target, ToAgent):
            async with self._voice.sessions() as s:
                other = await s.scalar(select(Agent).where(Agent.tenant_id == agent.tenant_id,
                                                           Agent.username == target.username))
            if other is None:
                raise NotFound("no such agent", error_id="agent-not-found")
            check_colleague(self._queue.agent_state(other.id), same_agent=other.id == agent.id)
            endpoint, who, colleague = (f"PJSIP/{other.phone_username}",
                                        {"agent": target.username}, other.id)
            # On a video call, a colleague who can take video joins with hers.
            video = video_leg(call.medium, other)
        else:
            dest, caller_id = await self._transfers.destination(agent.tenant_id, target.number,
                                                                path="conference")
            endpoint, who = self._transfers.endpoint(dest), {"number": dest.e164}
        async with call.lock:
            connected(call)
            if self._consulting(contact_id):
                raise Conflict("a consult is under way", error_id="consult-in-progress")
            if not call.bridge_id or not call.agent_channel_id:
                raise Conflict("the call has moved on", error_id="illegal-transition")
            conf = self._by_contact.setdefault(contact_id, Conference(contact_id))
            rules.check_room(conf, limit)
            async with self._voice.sessions() as s:
                row = await repo.get(s, contact_id, agent.tenant_id)
            n = len(row.meta.get("conference", [])) + 1 if row is not None else 1
            party = Party(ids.make(Kind.CONFERENCE_LEG, contact_id, n), who, self._voice.now(),
                          agent_id=colleague)
            if colleague is None:
                await self._transfers.admit(agent.tenant_id, party.leg)
            else:
                await self._queue.set_engaged(colleague, True)
            self._legs[party.leg] = party
            try:
                await self._save(call, agent, party)  # committed before it is dialled
            except BaseException:
                await self._gone(party)
                raise
            conf.parties[party.leg] = party
            try:
                await dial(self._ari, self._voice.legs, agent.tenant_id, endpoint, party.leg,
                           video=video, app_args=(STASIS_ARG, contact_id), timeout=self._transfers.ring_s,
                           caller_id=caller_id or None)
            except AriConflict:
                log.info("contact %s: party %s was dialled already", contact_id, party.leg)
            except AriError as exc:
                log.warning("contact %s: party %s not dialled: %s", contact_id, party.leg, exc)
                del conf.parties[party.leg]
                await self._gone(party)
                await self._log(call, "conference-left", leg=party.leg, reason="dial-failed")
                raise Conflict("the party could not be dialled",
                               error_id="conference-failed") from None
        log.info("contact %s: agent %s adds %s (leg %s)", contact_id, agent.id, who, party.leg)
        return {"type": "conference-dialling", "contact_id": contact_id, "party": party.leg}

    async def _save(self, call: Call, agent: Agent, party: Party) -> None:
        async with self._voice.sessions() as s:
            if not await repo.note_leg(s, call.contact_id, call.tenant_id, "conference",
                                       "conference-dialling", self._voice.now(),
                                       agent_id=agent.id, to=party.who, leg=party.leg):
                raise Conflict("the call has moved on", error_id="illegal-transition")
            await s.commit()

    # ---- the agent's other commands --------------------------------------------------------
    async def _list(self, agent: Agent, call: Call, conf: Conference,
                    msg: dict[str, Any]) -> dict[str, Any]:
        return self._view(call, conf)

    async def _mute(self, agent: Agent, call: Call, conf: Conference,
                    msg: dict[str, Any]) -> dict[str, Any]:
        return await self._set_mute(agent, call, rules.party_of(conf, msg), True)

    async def _unmute(self, agent: Agent, call: Call, conf: Conference,
                      msg: dict[str, Any]) -> dict[str, Any]:
        return await self._set_mute(agent, call, rules.party_of(conf, msg), False)

    async def _set_mute(self, agent: Agent, call: Call, party: Party,
                        muted: bool) -> dict[str, Any]:
        rules.check_mute(party, muted)
        kind = "conference-muted" if muted else "conference-unmuted"
        await self._log(call, kind, agent_id=agent.id, leg=party.leg)
        party.muted = muted
        ari = self._ari
        await safe(ari.mute(party.leg, "in") if muted else ari.unmute(party.leg, "in"))
        log.info("contact %s: %s %s", call.contact_id, kind, party.leg)
        return {"type": kind, "contact_id": call.contact_id, "party": party.leg}

    async def _remove(self, agent: Agent, call: Call, conf: Conference,
                      msg: dict[str, Any]) -> dict[str, Any]:
        party = rules.party_of(conf, msg)
        await self._log(call, "conference-removed", agent_id=agent.id, leg=party.leg)
        del conf.parties[party.leg]  # its leg's end is only bookkeeping now
        await self._voice.hangup(party.leg)
        log.info("contact %s: agent %s removes %s", call.contact_id, agent.id, party.leg)
        return {"type": "conference-removed", "contact_id": call.contact_id,
                "party": party.leg}

    async def _leave(self, agent: Agent, call: Call, conf: Conference,
                     msg: dict[str, Any]) -> dict[str, Any]:
        """The agent leaves to wrap-up; the others talk on in the call's bridge."""
        rules.check_leave(conf)
        if self._consulting(call.contact_id):
            raise Conflict("a consult is under way", error_id="consult-in-progress")
        await self._agent_leaves(call, conf, agent.id, how="command")
        return {"type": "conference-left", "contact_id": call.contact_id}

    async def phone_hung_up(self, call: Call) -> bool:
        """The agent's phone hung up: with an added party in the call (and no consult under
        way), she leaves the conference to the others; else the call ends as before."""
        conf = self._by_contact.get(call.contact_id)
        if conf is None or call.agent_id is None or conf.joined() == 0 \
                or self._consulting(call.contact_id):
            return False
        agent_id = call.agent_id
        await self._agent_leaves(call, conf, agent_id, how="phone")
        await self._hub.send(agent_id, {"type": "conference-left",
                                        "contact_id": call.contact_id})
        return True

    async def _agent_leaves(self, call: Call, conf: Conference, agent_id: int, *,
                            how: str) -> None:
        await save_agent_left(self._voice, call, agent_id, "conference-agent-left", by=how)
        conf.agent_left = True
        agent_leg = call.agent_channel_id
        self._voice.calls.unlink_agent_channel(call)  # its hang-up is ours, not an end
        call.agent_id, call.muted = None, False
        if call.held_at is not None:  # the customer back in the call
            call.hold_s, call.held_at = call.hold_total(time.monotonic()), None
            await safe(self._ari.stop_moh(call.channel_id))
            call.moh = False
            if call.bridge_id:
                await safe(self._ari.add_channel(call.bridge_id, call.channel_id))
        if agent_leg and how == "command":
            await self._voice.hangup(agent_leg)
        for listener in self._voice.agent_left:
            await listener(call)
        await self._queue.completed(call.contact_id, agent_id, call.settings.wrap_up_s)
        log.info("contact %s: agent %s leaves the conference (%s)", call.contact_id, agent_id,
                 how)

    async def page_view(self, call: Call) -> list[dict[str, Any]]:
        """The parties the agent added (for her reopened page)."""
        conf = self._by_contact.get(call.contact_id)
        return [self._view(call, conf)] if conf is not None and conf.parties else []

    def _view(self, call: Call, conf: Conference) -> dict[str, Any]:
        return {"type": "conference", "contact_id": call.contact_id,
                "limit": self._voice.config.conference_max_parties,
                "parties": [p.view() for p in conf.parties.values()]}

    # ---- Asterisk's side -------------------------------------------------------------------
    async def answered(self, leg: str, contact_id: str) -> None:
        call, conf = self._voice.calls.by_contact(contact_id), self._by_contact.get(contact_id)
        if call is None or conf is None or leg not in conf.parties:
            await self._voice.hangup(leg)
            return
        async with call.lock:
            party = conf.parties.get(leg)
            if party is None or call.phase != "connected" or not call.bridge_id:
                await self._voice.hangup(leg)
                return
            party.joined, party.since = True, self._voice.now()
            await self._log(call, "conference-joined", leg=leg)
            await safe(self._ari.add_channel(call.bridge_id, leg))
            await self._push(call, conf)
        log.info("contact %s: party %s joined", contact_id, leg)

    async def leg_gone(self, leg: str) -> None:
        """An added leg ended (hung up, removed, never answered): its trunk or its colleague
        is freed; once the agent has left, the last party's leaving ends the call."""
        party = self._legs.get(leg)
        if party is None:
            return
        await self._gone(party)
        contact_id = ids.rest_of(leg, Kind.CONFERENCE_LEG).rpartition("-")[0]
        call, conf = self._voice.calls.by_contact(contact_id), self._by_contact.get(contact_id)
        if call is None or conf is None:
            return
        async with call.lock:
            if conf.parties.pop(leg, None) is not None:  # not removed by the agent
                await self._log(call, "conference-left", leg=leg,
                                reason="hung-up" if party.joined else "no-answer")
            if call.phase != "connected":
                return
            if not rules.goes_on(conf):
                await self._voice.finish(call, "conference-over")
            else:
                await self._push(call, conf)

    async def call_over(self, contact_id: str) -> None:
        """The call's agent part is over (the caller holds the call's lock): every added leg
        is hung up (their ends free their trunks and colleagues)."""
        conf = self._by_contact.pop(contact_id, None)
        if conf is None:
            return
        for party in conf.parties.values():
            await safe(self._ari.hangup(party.leg, reason="normal"))

    async def reconcile(self) -> None:
        """After an ARI (re)connect: the conference of each connected call this process has
        without one is rebuilt from the contact's log and Asterisk (``conference_rules.py``);
        then added legs nobody owns are hung up."""
        channels = {c.id: c for c in await self._ari.list_channels()}
        bridges = {b.id: b for b in await self._ari.list_bridges()}
        for call in self._voice.calls.all():
            if call.phase == "connected" and call.contact_id not in self._by_contact:
                async with call.lock:
                    await self._rebuild(call, channels, bridges.get(call.bridge_id or ""))
        for ch in channels:
            if ids.kind_of(ch) is Kind.CONFERENCE_LEG:
                conf = self._by_contact.get(ids.rest_of(ch, Kind.CONFERENCE_LEG).rpartition("-")[0])
                if conf is None or ch not in conf.parties:
                    await safe(self._ari.hangup(ch, reason="normal"))

    async def _rebuild(self, call: Call, channels: dict[str, Channel],
                       bridge: Bridge | None) -> None:
        """One call's conference (its parties, muted or not, whether the agent left), as its
        log left it and Asterisk has it (the call's lock held)."""
        async with self._voice.sessions() as s:
            row = await repo.get(s, call.contact_id, call.tenant_id)
            if row is None or not row.meta.get("conference") or not call.bridge_id:
                return
            logged = rules.logged_parties(row.meta.get("conference", []), [
                (e.kind, e.at, e.data or {}) for e in await repo.events(s, call.tenant_id, row.id)
                if e.kind.startswith("conference-")])
            colleagues = dict((await s.execute(select(Agent.username, Agent.id).where(
                Agent.tenant_id == call.tenant_id,
                Agent.username.in_([p.who["agent"] for p in logged if "agent" in p.who])))
            ).tuples().all())
        conf = Conference(call.contact_id, agent_left="agent_left" in row.meta)
        for it in logged:
            leg = channels.get(it.leg)
            step = rules.party_step(it.phase, leg.state if leg is not None else None)
            if step is not rules.PartyStep.NOTHING:
                log.info("reconcile: contact %s: party %s: %s", call.contact_id, it.leg,
                         step.value)
            if step is rules.PartyStep.LEFT:
                await self._log(call, "conference-left", leg=it.leg, reason="lost")
            if step in (rules.PartyStep.NOTHING, rules.PartyStep.LEFT):
                continue
            party = Party(it.leg, dict(it.who), it.since,
                          agent_id=colleagues.get(it.who.get("agent", "")),
                          joined=step is not rules.PartyStep.RINGING, muted=it.muted)
            conf.parties[party.leg] = self._legs[party.leg] = party
            if party.agent_id is not None:
                await self._queue.set_engaged(party.agent_id, True)
            if step is rules.PartyStep.JOIN:  # answered while ccari was away
                party.since = self._voice.now()
                await self._log(call, "conference-joined", leg=party.leg)
            if party.joined and (bridge is None or party.leg not in bridge.channels):
                await safe(self._ari.add_channel(call.bridge_id, party.leg))
            if party.muted:  # ARI reports no mute: applied again
                await safe(self._ari.mute(party.leg, "in"))
        self._by_contact[call.contact_id] = conf
        if not rules.goes_on(conf):
            await self._voice.finish(call, "conference-over")
        else:
            await self._push(call, conf)

    # ---- helpers ---------------------------------------------------------------------------
    async def _gone(self, party: Party) -> None:
        """What the leg held is freed, once: its trunk, or its colleague."""
        if self._legs.pop(party.leg, None) is None:
            return
        if party.agent_id is None:
            await self._transfers.release(party.leg)
        else:
            await self._queue.set_engaged(party.agent_id, False)

    async def _push(self, call: Call, conf: Conference) -> None:
        if call.agent_id is not None:
            await self._hub.send(call.agent_id, self._view(call, conf))

    async def _log(self, call: Call, kind: str, **data: Any) -> None:
        await self._voice.log_event(call.contact_id, call.tenant_id, kind, **data)


def register(ari: AriClient, router: StasisRouter, conferences: Conferences) -> None:
    """The conference's declaration to the Stasis router: the added legs are its own."""
    register_legs(ari, router, "conference", STASIS_ARG, Kind.CONFERENCE_LEG, conferences)
