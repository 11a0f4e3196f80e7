"""Blind transfers of the call an agent is on, from her page and the REST API
(``call.transfer`` with one of ``skill``, ``agent`` or ``number``; the targets are judged in
``transfer_targets.py``).

* **To a skill**: back to the queue for another skill (the lifecycle's TRANSFERRED:
  disconnect the agent's leg, enqueue); the caller hears the queue's greeting (if it has one)
  as on joining it, then the music, and keeps its place.
* **To a colleague by name** (same tenant, logged in and ready, else 409
  ``agent-unavailable``): the same move, the contact reserved for her (``reserved_agent``):
  the router offers it to her only, her phone rings with the offer's stable id and her page
  shows the screen pop.  If she does not answer, the contact waits for its skills again in
  its place (``offers.py``).
* **A video call stays one**: its contact keeps the ``video`` medium, so the router offers it
  again only to an agent who can take video (her phone is the agent page, with a video slot)
  and her leg is rung with the video codec (``offers.py``).  To a colleague by name who
  cannot take video: 409 ``agent-cannot-take-video`` (the call stays with the agent; going
  on as audio only would need the customer's page to drop its camera first).
* **To an outside number**: the outward gate (:mod:`ccari.callbacks.outward`: the tenant's
  dial policy and the per-number and per-tenant rate limits, shared with callbacks and
  faxes: 422 ``invalid-number``, 403 ``number-not-allowed``, 429 ``rate-limited``), then trunk
  admission for the new leg (409 ``trunk-limit-reached``), then the leg's stable id
  (``xfer-<contact>-<n>``) and the transfer are committed, then it is dialled once.  The
  agent leaves at once; the caller hears the music until the number answers, then is
  bridged with it; the contact ends when either side hangs up (``outside-hangup``,
  ``transfer-unanswered``, ``caller-hangup``).

Every request, refusal and step is in the contact's event log.  The agent's part ends
without wrap-up; she is free for the next contact.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from ccari.agents.commands import AgentCommands, field
from ccari.ari import ids
from ccari.ari.errors import AriConflict, AriError
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.callbacks import guard
from ccari.callbacks import repo as callbacks_repo
from ccari.callbacks.outward import OutwardGuard
from ccari.contacts import lifecycle, repo
from ccari.contacts.lifecycle import Command, Fact
from ccari.contacts.services import QueueService
from ccari.errors import CcariError, Conflict, NotFound
from ccari.routing import Medium
from ccari.storage.models import Agent, ContactMeta
from ccari.voice import moves
from ccari.voice.calls import Call
from ccari.voice.controls import call_of, connected
from ccari.voice.hold import safe
from ccari.voice.legs import dial, register_legs
from ccari.voice.ports import Admission
from ccari.voice.transfer_targets import (
    ToAgent,
    ToNumber,
    ToSkill,
    check_colleague,
    takes_video,
    target_of,
)

if TYPE_CHECKING:
    from ccari.ari import AriClient
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
STASIS_ARG = "transfer"


class OutboundAdmission(Protocol):
    async def admit_outbound(self, tenant_id: int, call_id: str) -> Admission: ...
    async def release(self, call_id: str) -> None: ...


class Transfers:
    def __init__(self, voice: VoiceService, queue: QueueService,
                 admission: OutboundAdmission | None, outward: OutwardGuard | None = None,
                 *, trunk: str, host: str) -> None:
        self._voice = voice
        self._outward = outward or OutwardGuard(voice.sessions, node=voice.node)
        self._queue = queue
        self._admission = admission
        self._trunk, self._host = trunk, host
        # Legs that are a call's other side, answered: how the call ends when they hang up.
        self._adopted: dict[str, str] = {}

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register("call.transfer", self._cmd_transfer)

    async def _cmd_transfer(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        target = target_of(msg)
        call = call_of(self._voice, agent, contact_id)
        if isinstance(target, ToSkill):
            return await self.to_skill(agent, call, target.skill)
        try:
            if isinstance(target, ToAgent):
                return await self.to_agent(agent, call, target.username)
            return await self.to_number(agent, call, target)
        except CcariError as exc:
            if exc.status < 500:
                await self._log(call, "transfer-refused", agent_id=agent.id,
                                target=_described(target), error=exc.error_id)
            raise

    # ---- back to the queue: a skill, or one colleague ------------------------------------
    async def to_skill(self, agent: Agent, call: Call, skill: str) -> dict[str, Any]:
        async with self._voice.sessions() as s:
            row = await repo.get(s, call.contact_id, agent.tenant_id)
        attributes = {**(row.attributes if row is not None else {}), "skill": skill}
        return await self._requeue(agent, call, attributes, {"skill": skill})

    async def to_agent(self, agent: Agent, call: Call, username: str) -> dict[str, Any]:
        async with self._voice.sessions() as s:
            target = await s.scalar(select(Agent).where(Agent.tenant_id == agent.tenant_id,
                                                        Agent.username == username))
            row = await repo.get(s, call.contact_id, agent.tenant_id)
        if target is None:
            raise NotFound("no such agent", error_id="agent-not-found")
        check_colleague(self._queue.agent_state(target.id), same_agent=target.id == agent.id,
                        video=call.medium is Medium.VIDEO, takes_video=takes_video(target))
        attributes = dict(row.attributes) if row is not None else {}
        return await self._requeue(agent, call, attributes, {"agent": username},
                                   reserved=target.id)

    async def _requeue(self, agent: Agent, call: Call, attributes: dict[str, Any],
                       to: dict[str, Any], reserved: int | None = None) -> dict[str, Any]:
        """The lifecycle's TRANSFERRED: the agent's leg ends, the caller waits again with
        the music, keeping its queue time."""
        contact_id = call.contact_id
        async with call.lock:
            connected(call)
            commands = lifecycle.move(call.phase, Fact.TRANSFERRED).commands
            await self._log(call, "transfer-requested", agent_id=agent.id, to=to)
            now = time.monotonic()
            contact = await self._voice.writes.run(functools.partial(
                moves.transferred, contact_id=contact_id, at=self._voice.now(),
                attributes=attributes, hold_s=call.hold_total(now), reserved_agent=reserved,
                to=to if reserved is not None else None))
            if contact is None:
                raise Conflict("the call has moved on", error_id="illegal-transition")
            agent_leg, bridge = call.agent_channel_id, call.bridge_id
            in_bridge = call.held_at is None  # held, the caller is out of it already
            self._voice.calls.unlink_agent_channel(call)  # its hang-up is ours, not an end
            call.muted = False
            call.phase, call.agent_id, call.bridge_id = "queued", None, None
            call.greeted = False  # it joins the queue again: its greeting once more
            call.hold_s, call.held_at = call.hold_total(now), None
            if Command.DISCONNECT in commands:
                if bridge and in_bridge:
                    # Out of the bridge first: Asterisk answers the removal once the caller
                    # has left it, but answers a bridge's destruction before its channels
                    # have, and an announcement asked of a caller still on the way out is
                    # dropped without a word (silence until the next one).
                    await safe(self._voice.ari.remove_channel(bridge, call.channel_id))
                if agent_leg:
                    await self._voice.hangup(agent_leg)
                if bridge:
                    await self._voice.destroy_bridge(bridge)
            await self._voice.left_agent(contact_id)
            await self._queue.completed(contact_id, agent.id, 0)
            if Command.ENQUEUE in commands:
                await self._queue.enqueue(contact)
                if call.phase == "queued":
                    self._voice.hold.start(call)
        log.info("contact %s: transferred by agent %s to %s", contact_id, agent.id, to)
        return {"type": "transferred", "contact_id": contact_id}

    # ---- out of the contact center -------------------------------------------------------
    async def destination(self, tenant_id: int, number: str, *, path: str = "transfer"
                          ) -> tuple[guard.Destination, str]:
        """The number as the tenant may dial it (the outward gate, as for callbacks and
        faxes: 422, 403, 429 ``rate-limited``) and the caller id the other end sees."""
        dest = await self._outward.check(tenant_id, number, path=path)
        async with self._voice.sessions() as s:
            settings = await callbacks_repo.settings(s, tenant_id)
            caller_id = await callbacks_repo.caller_id(s, settings)
        return dest, caller_id

    @property
    def ring_s(self) -> int:
        """How long a transferred or consulted party rings (``voice.transfer_ring_s``)."""
        return self._voice.config.transfer_ring_s

    def endpoint(self, dest: guard.Destination) -> str:
        return f"PJSIP/{self._trunk}/sip:{dest.digits}@{self._host}"

    async def admit(self, tenant_id: int, leg: str) -> None:
        """Trunk admission for an outside leg (409 ``trunk-limit-reached``)."""
        if self._admission is not None:
            admitted = await self._admission.admit_outbound(tenant_id, leg)
            if not admitted.admit:
                raise Conflict(f"no trunk for this call ({admitted.reason})",
                               error_id="trunk-limit-reached")

    async def to_number(self, agent: Agent, call: Call, target: ToNumber) -> dict[str, Any]:
        dest, caller_id = await self.destination(agent.tenant_id, target.number)
        contact_id = call.contact_id
        async with call.lock:
            connected(call)
            async with self._voice.sessions() as s:
                row = await repo.get(s, contact_id, agent.tenant_id)
            if row is None:
                raise Conflict("the call has moved on", error_id="illegal-transition")
            # One leg id per transfer of the contact (the call's lock keeps the count).
            leg = ids.make(Kind.TRANSFER_LEG, contact_id, len(row.meta.get("transfers", [])) + 1)
            await self.admit(agent.tenant_id, leg)
            async with self._voice.sessions() as s:
                row = await repo.get(s, contact_id, agent.tenant_id, for_update=True)
                if row is None:
                    await self.release(leg)
                    raise Conflict("the call has moved on", error_id="illegal-transition")
                # The leg's id with the transfer, committed before it is dialled: one dial.
                meta: ContactMeta = {**row.meta, "transfers": [
                    *row.meta.get("transfers", []),
                    {"agent_id": agent.id, "to": {"number": dest.e164}, "leg": leg}]}
                row.meta = meta
                await repo.log(s, row, "transfer-dialling", self._voice.now(), agent_id=agent.id,
                               number=dest.e164, leg=leg)
                await s.commit()
            await self._agent_leaves(agent, call, leg)
            try:
                await dial(self._voice.ari, self._voice.legs, agent.tenant_id,
                           self.endpoint(dest), leg, app_args=(STASIS_ARG, contact_id),
                           timeout=self.ring_s, caller_id=caller_id or None)
            except AriConflict:
                log.info("contact %s: transfer leg %s was dialled already", contact_id, leg)
            except AriError as exc:
                log.warning("contact %s: transfer leg %s not dialled: %s", contact_id, leg, exc)
                await self.release(leg)
                await self._voice.finish(call, "transfer-failed", gone=leg)
        log.info("contact %s: agent %s transfers to %s (leg %s)", contact_id, agent.id,
                 dest.e164, leg)
        return {"type": "transferred", "contact_id": contact_id}

    async def _agent_leaves(self, agent: Agent, call: Call, leg: str) -> None:
        """The agent's leg ends; the caller hears the music, out of the bridge, until the
        outside leg answers.  That leg is the call's other side from now on, but its events
        are this module's (it is not linked in the registry)."""
        agent_leg, ari = call.agent_channel_id, self._voice.ari
        self._voice.calls.unlink_agent_channel(call)
        call.agent_channel_id, call.agent_id, call.muted = leg, None, False
        if call.held_at is not None:
            call.hold_s, call.held_at = call.hold_total(time.monotonic()), None
        elif call.bridge_id:
            await safe(ari.remove_channel(call.bridge_id, call.channel_id))
        if agent_leg:
            await self._voice.hangup(agent_leg)
        if not call.moh:
            await safe(ari.start_moh(call.channel_id, self._voice.config.moh_class))
            call.moh = True
        await self._voice.left_agent(call.contact_id)
        await self._queue.completed(call.contact_id, agent.id, 0)

    async def answered(self, leg: str, contact_id: str) -> None:
        """The number answered: the caller joins it in the call's bridge."""
        call = self._voice.calls.by_contact(contact_id)
        if call is None or call.agent_channel_id != leg:
            await self._voice.hangup(leg)
            return
        async with call.lock:
            if call.phase != "connected" or call.agent_channel_id != leg:
                await self._voice.hangup(leg)
                return
            self._adopted[leg] = "outside-hangup"
            await self._log(call, "transfer-answered", leg=leg)
            ari = self._voice.ari
            await safe(ari.stop_moh(call.channel_id))
            call.moh = False
            if call.bridge_id:
                await safe(ari.add_channel(call.bridge_id, [call.channel_id, leg]))
        log.info("contact %s: transfer leg %s answered", contact_id, leg)

    def adopt(self, leg: str) -> None:
        """An answered leg made the call's other side elsewhere (a completed consult): its
        hanging up ends the call like an outside transfer's."""
        self._adopted[leg] = "transferee-hangup"

    async def leg_gone(self, leg: str) -> None:
        """The outside leg ended (hung up, or never answered): its trunk is freed and the
        call ends (the caller's hang-up ended it first: nothing more)."""
        await self.release(leg)
        why = self._adopted.pop(leg, "transfer-unanswered")
        kind = ids.kind_of(leg)
        call = self._voice.calls.by_contact(ids.rest_of(leg, kind).rpartition("-")[0]
                                            if kind else "")
        if call is None:
            return
        async with call.lock:
            if call.agent_channel_id == leg and call.phase == "connected":
                await self._voice.finish(call, why, gone=leg)

    async def reconcile(self) -> None:
        """After an ARI (re)connect: an outside leg whose call this process does not have
        is hung up (its trunk is freed when it is gone)."""
        for ch in await self._voice.ari.list_channels():
            if ids.kind_of(ch.id) is Kind.TRANSFER_LEG:
                contact_id = ids.rest_of(ch.id, Kind.TRANSFER_LEG).rpartition("-")[0]
                call = self._voice.calls.by_contact(contact_id)
                if call is None or call.agent_channel_id != ch.id:
                    await self._voice.hangup(ch.id)

    async def release(self, leg: str) -> None:
        if self._admission is not None:
            await self._admission.release(leg)

    async def _log(self, call: Call, kind: str, **data: Any) -> None:
        await self._voice.log_event(call.contact_id, call.tenant_id, kind, **data)


def _described(target: ToSkill | ToAgent | ToNumber) -> dict[str, str]:
    if isinstance(target, ToAgent):
        return {"agent": target.username}
    if isinstance(target, ToNumber):
        return {"number": target.number}
    return {"skill": target.skill}


def register(ari: AriClient, router: StasisRouter, transfers: Transfers) -> None:
    """The transfers' declaration to the Stasis router: the outside legs are theirs."""
    register_legs(ari, router, "transfers", STASIS_ARG, Kind.TRANSFER_LEG, transfers)
