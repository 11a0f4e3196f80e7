"""A supervisor's monitoring session on Asterisk, and the plans of ``monitoring.py`` (pure)
carried out on it: ``supervision.py`` keeps the sessions and says when.

A session: the supervisor's phone, dialled by ccari with a stable id (``sup-<session>``),
and the session's own mixing bridge (``mon-<session>``); in listen and whisper a snoop
(``snoop-<session>-<n>``) on the agent's leg, or on the customer's once she has left the
call, shares that bridge with her phone, and silence plays into the call's bridge; in barge
and take over her phone is in the call's bridge.  A take-over lets the agent's leg go: the
supervisor's phone is the call's other side from then on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ccari.agents.notifier import AgentHub
from ccari.ari import AriClient, ids
from ccari.ari.ids import Kind
from ccari.voice import monitoring
from ccari.voice.calls import Call
from ccari.voice.controls import save_agent_left
from ccari.voice.hold import safe
from ccari.voice.monitoring import Mode

if TYPE_CHECKING:
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
SNOOP_ARG = "snoop"
# Silence, played into the call's bridge while a snoop is on (see ``monitoring.py``): a
# tone of 0 Hz, repeated until stopped.
FILL_MEDIA = "tone:0/1000"


@dataclass
class Session:
    id: str
    contact_id: str
    tenant_id: int
    supervisor_id: int
    supervisor_name: str
    mode: Mode
    answered: bool = False
    snoop: str | None = None  # the snoop in use (or being made)
    snoops: int = 0
    bridged_in: str | None = None  # the bridge her phone is in
    fill: str | None = None  # the silence playing in the call's bridge
    fills: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def leg(self) -> str:
        return ids.make(Kind.SUPERVISOR_LEG, self.id)

    @property
    def bridge(self) -> str:
        return ids.make(Kind.MONITOR_BRIDGE, self.id)

    def view(self) -> dict[str, Any]:
        return {"session": self.id, "contact_id": self.contact_id, "mode": self.mode.value,
                "supervisor": {"id": self.supervisor_id, "name": self.supervisor_name},
                "state": "connected" if self.answered else "ringing"}


class Layouts:
    def __init__(self, voice: VoiceService, hub: AgentHub) -> None:
        self._voice = voice
        self._ari: AriClient = voice.ari
        self._hub = hub

    async def carry_out(self, session: Session, steps: monitoring.Plan) -> None:
        """``steps`` made in Asterisk, in the plan's order (nothing once the call is over)."""
        call = self._voice.calls.by_contact(session.contact_id)
        if call is None or not call.bridge_id:
            return  # the call is over: call_over ends the session
        ari = self._ari
        old_snoop = session.snoop
        if steps.new_snoop is not None:  # it joins the session's bridge once in Stasis
            session.snoops += 1
            session.snoop = ids.make(Kind.SNOOP, session.id, session.snoops)
            # On the agent's leg; once she has left, on the customer's (what the customer
            # says and hears: everyone else in the call).
            spied = call.agent_channel_id or call.channel_id
            await safe(ari.snoop(spied, snoop_id=session.snoop,
                                 spy=steps.new_snoop.spy, whisper=steps.new_snoop.whisper,
                                 app_args=(SNOOP_ARG, session.id)))
        if steps.to_call or steps.to_monitor:
            if session.bridged_in is not None:
                await safe(ari.remove_channel(session.bridged_in, session.leg))
            session.bridged_in = call.bridge_id if steps.to_call else session.bridge
            await safe(ari.add_channel(session.bridged_in, session.leg))
        if steps.drop_snoop and old_snoop is not None:
            if steps.new_snoop is None:
                session.snoop = None
            await safe(ari.hangup(old_snoop, reason="normal"))
        if steps.start_fill:
            session.fills += 1
            session.fill = ids.make(Kind.WHISPER_FILL, session.id, session.fills)
            await safe(ari.play_on_bridge(call.bridge_id, FILL_MEDIA, playback_id=session.fill))
        if steps.stop_fill:
            await self._stop_fill(session)
        agent_id = call.agent_id
        if agent_id is not None and (steps.notify is not None or steps.notify_gone):
            await self._hub.send(agent_id, {
                "type": "monitored", "contact_id": session.contact_id,
                "supervisor": session.supervisor_name,
                "mode": steps.notify.value if steps.notify is not None else None})
        if steps.drop_agent:
            async with call.lock:
                await self._take_over(session, call)

    async def _take_over(self, session: Session, call: Call) -> None:
        """The agent's leg leaves; the supervisor's leg is the call's other side from now on
        (the voice ACD's: her hanging up ends the call).  The agent is free at once."""
        agent_leg, agent_id = call.agent_channel_id, call.agent_id
        if call.phase != "connected" or agent_leg is None:
            return
        await save_agent_left(self._voice, call, agent_id, "taken-over", other_side=session.leg,
                              taken_over_by=session.supervisor_id, monitor=session.id,
                              supervisor_id=session.supervisor_id)
        self._voice.calls.link_agent_channel(call, session.leg)  # the agent's leg unlinked
        call.agent_id, call.muted, call.taken_over_by = None, False, session.supervisor_id
        await safe(self._ari.hangup(agent_leg, reason="normal"))
        if agent_id is not None:
            await self._hub.send(agent_id, {"type": "taken-over", "contact_id": call.contact_id,
                                            "supervisor": session.supervisor_name})
            await self._voice.queue.completed(call.contact_id, agent_id, 0)
        log.info("contact %s: taken over by supervisor %s from agent %s", call.contact_id,
                 session.supervisor_id, agent_id)

    async def tear_down(self, session: Session, *, leg_gone: bool) -> None:
        """The session's snoop, its bridge, its silence and (unless gone) her phone.  After a
        take over her phone is the call's: hanging it up ends the call (the voice ACD's
        part)."""
        ari = self._ari
        legs = [ch for ch in (session.snoop, None if leg_gone else session.leg) if ch]
        await asyncio.gather(*(safe(ari.hangup(ch, reason="normal")) for ch in legs),
                             safe(ari.destroy_bridge(session.bridge)), self._stop_fill(session))

    async def _stop_fill(self, session: Session) -> None:
        if session.fill is not None:
            fill, session.fill = session.fill, None
            await safe(self._ari.stop_playback(fill))
