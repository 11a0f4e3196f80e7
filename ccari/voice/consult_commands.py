"""The agent's consult commands from her page: ``call.consult`` (a colleague, a skill or an
outside number), then ``call.consult_complete``, ``call.consult_cancel`` or
``call.consult_conference`` (``consults.py`` has the consults under way and their legs).

Each command takes the call's lock like the other controls; every step is saved in the
contact's log before Asterisk is told (the consult itself before its leg is dialled); a
consult refused (a 4xx) is saved as ``consult-refused``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ccari.agents.commands import AgentCommands, field
from ccari.agents.commands import Command as AgentCommand
from ccari.ari import ids
from ccari.ari.errors import AriConflict, AriError
from ccari.ari.ids import Kind
from ccari.contacts import repo
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, CcariError, Conflict
from ccari.routing import Medium
from ccari.storage.models import Agent
from ccari.voice.calls import Call
from ccari.voice.consults import STASIS_ARG, Consult, Consults
from ccari.voice.controls import call_of, connected, save_agent_left
from ccari.voice.hold import safe
from ccari.voice.legs import dial
from ccari.voice.transfer_targets import (
    ToAgent,
    ToNumber,
    ToSkill,
    check_video,
    takes_video,
    target_of,
    video_leg,
)
from ccari.voice.transfers import Transfers

if TYPE_CHECKING:
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


class ConsultCommands:
    def __init__(self, voice: VoiceService, queue: QueueService, transfers: Transfers,
                 consults: Consults) -> None:
        self._voice = voice
        self._queue = queue
        self._transfers = transfers
        self._consults = consults
        self._colleagues = consults.colleagues

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
                consult = self._consults.of(call.contact_id)
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
                await self._consults.log_event(call, "consult-refused", agent_id=agent.id,
                                               error=exc.error_id)
            raise

    async def consult(self, agent: Agent, call: Call, target: ToAgent | ToSkill | ToNumber
                      ) -> dict[str, Any]:
        """Ring ``target`` for a consult (a skill: the colleague chosen for it)."""
        consults = self._consults
        if consults.of(call.contact_id) is not None:  # first (again under the call's lock)
            raise Conflict("a consult is under way", error_id="consult-in-progress")
        caller_id, to, colleague, video = "", {}, None, False
        if not isinstance(target, ToNumber):
            other = await self._colleagues.choose(agent, target)
            endpoint, to = f"PJSIP/{other.phone_username}", {"agent": other.username}
            if isinstance(target, ToSkill):
                to["skill"] = target.skill
            colleague = other.id
            # A video call's consult is on video with a colleague who can take video.
            video = video_leg(call.medium, other)
        else:
            dest, caller_id = await self._transfers.destination(agent.tenant_id, target.number,
                                                                path="consult")
            endpoint, to = self._transfers.endpoint(dest), {"number": dest.e164}
        contact_id = call.contact_id
        async with call.lock:
            connected(call)
            if consults.of(contact_id) is not None:
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
                await self._colleagues.engage(consult.leg, colleague)
            try:
                await self._save(call, agent, consult)  # committed before it is dialled
            except BaseException:
                await self._transfers.release(consult.leg)
                await self._colleagues.disengage(consult.leg)
                raise
            consults.add(consult)
            await self._colleagues.pop(consult.leg, row, agent)
            await consults.hold_caller(call)
            ari = self._voice.ari
            await safe(ari.create_bridge(consult.bridge, type="mixing"))
            await safe(ari.remove_channel(call.bridge_id, call.agent_channel_id))
            await safe(ari.add_channel(consult.bridge, call.agent_channel_id))
            try:
                await dial(ari, self._voice.legs, agent.tenant_id, endpoint, consult.leg,
                           video=video, app_args=(STASIS_ARG, contact_id),
                           timeout=self._transfers.ring_s, caller_id=caller_id or None)
            except AriConflict:
                log.info("contact %s: consult leg %s was dialled already", contact_id, consult.leg)
            except AriError as exc:
                log.warning("contact %s: consult leg %s not dialled: %s", contact_id,
                            consult.leg, exc)
                await consults.back_to_agent(call, consult, "dial-failed")
                await self._colleagues.disengage(consult.leg)
                raise Conflict("the consult could not be dialled",
                               error_id="consult-failed") from None
        log.info("contact %s: agent %s consults %s (leg %s)", contact_id, agent.id, to,
                 consult.leg)
        return {"type": "consulting", "contact_id": contact_id}

    async def _save(self, call: Call, agent: Agent, consult: Consult) -> None:
        async with self._voice.sessions() as s:
            if not await repo.note_leg(s, call.contact_id, agent.tenant_id, "consults",
                                       "consult-dialling", self._voice.now(),
                                       agent_id=agent.id, to=consult.to, leg=consult.leg):
                raise Conflict("the call has moved on", error_id="illegal-transition")
            await s.commit()

    # ---- the agent's choices ---------------------------------------------------------------
    async def complete(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """The caller joins the consulted party; the agent leaves to wrap-up.  A video call
        stays one: not to a colleague who cannot take video (409, the consult goes on)."""
        if not consult.answered:
            raise Conflict("the consulted party has not answered", error_id="consult-not-answered")
        if call.medium is Medium.VIDEO and "agent" in consult.to:
            other = await self._colleagues.by_username(agent.tenant_id, consult.to["agent"])
            check_video(other is not None and takes_video(other))
        await save_agent_left(self._voice, call, agent.id, "consult-completed",
                              leg=consult.leg)
        self._consults.remove(consult)
        agent_leg, ari = call.agent_channel_id, self._voice.ari
        self._voice.calls.unlink_agent_channel(call)  # its hang-up is ours, not an end
        call.agent_channel_id, call.agent_id, call.muted = consult.leg, None, False
        self._transfers.adopt(consult.leg)
        await safe(ari.remove_channel(consult.bridge, consult.leg))
        await self._consults.resume_caller(call, with_leg=consult.leg)
        if agent_leg:
            await self._voice.hangup(agent_leg)
        await safe(ari.destroy_bridge(consult.bridge))
        await self._voice.left_agent(call.contact_id)
        await self._queue.completed(call.contact_id, agent.id, call.settings.wrap_up_s)
        log.info("contact %s: consult completed, agent %s leaves", call.contact_id, agent.id)
        return {"type": "transferred", "contact_id": call.contact_id}

    async def cancel(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """The consulted party is hung up; the caller is back with the agent."""
        await self._consults.back_to_agent(call, consult, "cancelled", agent_id=agent.id)
        return {"type": "consult-cancelled", "contact_id": call.contact_id}

    async def conference(self, agent: Agent, call: Call, consult: Consult) -> dict[str, Any]:
        """All three in the call's mixing bridge."""
        if not consult.answered:
            raise Conflict("the consulted party has not answered", error_id="consult-not-answered")
        assert call.bridge_id is not None and call.agent_channel_id is not None
        await self._consults.log_event(call, "consult-conference", agent_id=agent.id,
                                       leg=consult.leg)
        consult.joined = True
        ari = self._voice.ari
        await safe(ari.remove_channel(consult.bridge, [call.agent_channel_id, consult.leg]))
        await safe(ari.add_channel(call.bridge_id, [call.agent_channel_id, consult.leg]))
        await self._consults.resume_caller(call)
        await safe(ari.destroy_bridge(consult.bridge))
        log.info("contact %s: three-way call with %s", call.contact_id, consult.leg)
        return {"type": "conferenced", "contact_id": call.contact_id}
