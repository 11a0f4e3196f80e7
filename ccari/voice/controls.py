"""The agent's controls over the call she is connected to, from her page's websocket and the
REST API (the same commands): hold and resume, mute and unmute (the agent's leg's audio
in, ARI's channel mute), hang up, blind transfer to a skill, and the
wrap-up's disposition code and note.

Hold takes the caller out of the call's mixing bridge and plays the music on hold on the
caller's channel: the caller hears the music, the agent (alone in the bridge) hears nothing,
and resume stops the music and adds the caller back.  Asterisk 22's other ways were set
aside: music on the bridge (``POST /bridges/{id}/moh``) plays to the agent too, and a
channel's own music (``POST /channels/{id}/moh``) while it is bridged competes with the
bridge for what the caller hears.

Only the agent the call is connected to may act on it (404 ``contact-not-found`` for anyone
else, tenant-scoped); a command in the wrong state is a 409 with its own id.  Each command
takes the call's lock, like every other step of the call (``services.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from ccari.agents.commands import AgentCommands, field
from ccari.agents.commands import Command as AgentCommand
from ccari.contacts import repo
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.routing import Medium
from ccari.storage.models import Agent, ContactMeta, Tenant
from ccari.voice import wrapup
from ccari.voice.calls import Call
from ccari.voice.hold import safe

if TYPE_CHECKING:
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
NOTE_MAX = 2000


def call_of(voice: VoiceService, agent: Agent, contact_id: str) -> Call:
    """The call ``agent`` is on (404 ``contact-not-found`` for anyone else's)."""
    call = voice.calls.by_contact(contact_id)
    if call is None or call.agent_id != agent.id or call.tenant_id != agent.tenant_id:
        raise NotFound("no such call for you", error_id="contact-not-found")
    return call


async def save_agent_left(voice: VoiceService, call: Call, agent_id: int | None, kind: str,
                          *, other_side: str | None = None, taken_over_by: int | None = None,
                          **data: Any) -> None:
    """Her part of a call that goes on without her is over (she left her conference, she
    completed a consult, a supervisor took the call over), saved with ``kind`` in the log:
    she may wrap up at once (``wrapup.py``), and a restarted ccari neither keeps her busy
    with it nor ends it for her leg's absence.  ``other_side``: the call's other side from
    now on (a supervisor's phone, ``taken_over_by`` her agent id), when it is the voice
    ACD's leg."""
    async with voice.sessions() as s:
        row = await repo.get(s, call.contact_id, call.tenant_id, for_update=True)
        if row is None:
            return
        if agent_id is not None:
            row.meta = {**row.meta, "agent_left": agent_id}
        if taken_over_by is not None:
            row.meta = {**row.meta, "taken_over_by": taken_over_by}
        if other_side is not None:
            row.agent_channel_id = other_side
        await repo.log(s, row, kind, voice.now(), agent_id=agent_id, **data)
        await s.commit()


def connected(call: Call) -> None:
    if call.phase != "connected":
        raise Conflict(f"the call is {call.phase}", error_id="call-not-connected")


class CallControls:
    def __init__(self, voice: VoiceService, queue: QueueService, *,
                 consulting: Callable[[str], bool] = lambda contact_id: False) -> None:
        self._voice = voice
        self._queue = queue
        self._consulting = consulting  # the call's caller is held for a consult

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register("call.hold", self._cmd(self.hold))
        commands.register("call.resume", self._cmd(self.resume))
        commands.register("call.hangup", self._cmd(self.hangup))
        commands.register("call.mute", self._cmd(self.mute))
        commands.register("call.unmute", self._cmd(self.unmute))
        commands.register("call.wrap_up", self._cmd_wrap_up)

    @staticmethod
    def _cmd(action: Callable[[Agent, str], Awaitable[dict[str, Any]]]) -> AgentCommand:
        async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any] | None:
            return await action(agent, field(msg, "contact_id"))

        return handler

    def _call_of(self, agent: Agent, contact_id: str) -> Call:
        return call_of(self._voice, agent, contact_id)

    # ---- hold / resume ---------------------------------------------------------------------
    async def hold(self, agent: Agent, contact_id: str) -> dict[str, Any]:
        call = self._call_of(agent, contact_id)
        async with call.lock:
            connected(call)
            self._not_consulting(call)
            if call.held_at is not None:
                raise Conflict("the call is already on hold", error_id="call-on-hold")
            call.held_at = time.monotonic()
            await self._log(call, "held", agent_id=agent.id)
            ari = self._voice.ari
            if call.bridge_id:
                await safe(ari.remove_channel(call.bridge_id, call.channel_id))
            await safe(ari.start_moh(call.channel_id, self._voice.config.moh_class))
            call.moh = True
        log.info("contact %s: on hold by agent %s", contact_id, agent.id)
        return {"type": "held", "contact_id": contact_id}

    async def resume(self, agent: Agent, contact_id: str) -> dict[str, Any]:
        call = self._call_of(agent, contact_id)
        async with call.lock:
            connected(call)
            self._not_consulting(call)
            if call.held_at is None:
                raise Conflict("the call is not on hold", error_id="call-not-on-hold")
            held = time.monotonic() - call.held_at
            call.held_at, call.hold_s = None, call.hold_s + held
            await self._log(call, "resumed", agent_id=agent.id, held_s=round(held, 3),
                            hold_s=round(call.hold_s, 3))
            ari = self._voice.ari
            await safe(ari.stop_moh(call.channel_id))
            call.moh = False
            if call.bridge_id:
                await safe(ari.add_channel(call.bridge_id, call.channel_id))
        log.info("contact %s: resumed by agent %s after %.1f s", contact_id, agent.id, held)
        return {"type": "resumed", "contact_id": contact_id}

    def _not_consulting(self, call: Call) -> None:
        """The consult holds the caller and gives her back: no hold or resume meanwhile."""
        if self._consulting(call.contact_id):
            raise Conflict("a consult is under way", error_id="consult-in-progress")

    # ---- mute / unmute ---------------------------------------------------------------------
    async def mute(self, agent: Agent, contact_id: str) -> dict[str, Any]:
        """Nothing the agent's phone sends reaches the call (the customer, a supervisor);
        she still hears the customer."""
        return await self._set_mute(agent, contact_id, True)

    async def unmute(self, agent: Agent, contact_id: str) -> dict[str, Any]:
        return await self._set_mute(agent, contact_id, False)

    async def _set_mute(self, agent: Agent, contact_id: str, muted: bool) -> dict[str, Any]:
        call = self._call_of(agent, contact_id)
        async with call.lock:
            connected(call)
            if call.muted == muted:
                raise Conflict("the agent is already " + ("muted" if muted else "unmuted"),
                               error_id="already-muted" if muted else "not-muted")
            kind = "muted" if muted else "unmuted"
            await self._log(call, kind, agent_id=agent.id)
            call.muted = muted
            if call.agent_channel_id:
                ari = self._voice.ari
                await safe(ari.mute(call.agent_channel_id, "in") if muted
                           else ari.unmute(call.agent_channel_id, "in"))
        log.info("contact %s: %s by agent %s", contact_id, kind, agent.id)
        return {"type": kind, "contact_id": contact_id}

    async def _log(self, call: Call, kind: str, **data: Any) -> None:
        """An event of the call's log that moves nothing (saved before Asterisk is told)."""
        await self._voice.log_event(call.contact_id, call.tenant_id, kind, **data)

    # ---- hang up ---------------------------------------------------------------------------
    async def hangup(self, agent: Agent, contact_id: str) -> dict[str, Any]:
        """As if the agent's phone hung up: both legs end, the agent goes to wrap-up."""
        call = self._call_of(agent, contact_id)
        async with call.lock:
            connected(call)
            await self._voice.finish(call, "agent-hangup")
        return {"type": "hung-up", "contact_id": contact_id}  # "completed" follows from the call

    # ---- wrap-up ---------------------------------------------------------------------------
    async def _cmd_wrap_up(self, agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        note = msg.get("note") or ""
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise BadRequest(f"note must be text of at most {NOTE_MAX} characters",
                             error_id="bad-note")
        return await self.wrap_up(agent, field(msg, "contact_id"), field(msg, "disposition"),
                                  note)

    async def wrap_up(self, agent: Agent, contact_id: str, code: str, note: str) -> dict[str, Any]:
        """The agent's disposition code and note for a call she ended or was ended on, or
        left to the others in a conference (``wrapup.py``); her wrap-up ends with it (she
        is ready again unless she chose not ready)."""
        async with self._voice.sessions() as s:
            contact = await repo.get(s, contact_id, agent.tenant_id, for_update=True)
            if contact is None or contact.agent_id != agent.id or not Medium(contact.medium).is_call:
                raise NotFound("no such call for you", error_id="contact-not-found")
            moment = wrapup.when(contact.state, contact.meta, agent.id)
            tenant = await s.get(Tenant, agent.tenant_id)
            codes = self._voice.config.dispositions_of(tenant.slug if tenant else "",
                                                       tenant.dispositions if tenant else None)
            if code not in codes:
                raise BadRequest(f"disposition must be one of {', '.join(codes)}",
                                 error_id="bad-disposition")
            data: dict[str, Any] = {"agent_id": agent.id, "disposition": code, "note": note}
            if moment is wrapup.When.ENDED:
                ended_by = contact.disposition or ""
                contact.disposition, meta = wrapup.ended(ended_by, contact.meta, code, note)
                contact.meta = cast(ContactMeta, meta)
                data["ended_by"] = ended_by
            else:  # the call goes on: the code is the contact's once it ends
                contact.meta = {**contact.meta, "wrap_up": {"disposition": code, "note": note}}
                data["live"] = True
            await repo.log(s, contact, "wrap-up", self._voice.now(), **data)
            await s.commit()
        if self._queue.agent_state(agent.id) == "wrap_up":
            await self._queue.set_presence(agent, "ready")
        log.info("contact %s: wrap-up %s by agent %s (%s)", contact_id, code, agent.id, moment)
        return {"type": "wrapped-up", "contact_id": contact_id, "disposition": code}
