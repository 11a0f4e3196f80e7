"""A supervisor monitors a live call from her own phone: listen, whisper, barge, take over
(the layouts and the planner are ``monitoring.py``; ``monitor_layouts.py`` carries the plans
out on a session's phone, bridge and snoop; this module keeps the sessions and says when).

A session starts by dialling the supervisor's phone (``sup-<session>``); its layout is made
when she answers.  The mode changes during the session without dialling her again.  Every
start, mode change and stop is saved in the contact's event log (with who did it) before
Asterisk is told; the agent's page is told who monitors in the modes she can hear.  The call
ending ends the session (its legs, its bridge); the session ending leaves the call up.  A
call whose agent left her conference to the others can still be listened to (a snoop on the
customer's leg) or barged into; whisper and take over need the agent (409
``agent-not-in-call``); a session listening or whispering when she leaves listens on
(``agent_left``).  After a restart of ccari, a session its contact's log has open whose
phone Asterisk still has goes on in its mode (her phone is not dialled again); what else
Asterisk has of sessions this process does not know is hung up (``reconcile``).

On a video call a supervisor who can take video (her phone is the agent page, with a video
slot) is rung with the video codec: listening and whispering are audio (a snoop), barging
in she sees whoever speaks (the call's bridge follows the talker), and taking over she goes
on with the customer on video.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from sqlalchemy import select

from ccari.agents.notifier import AgentHub
from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError
from ccari.ari.events import ChannelDestroyed, StasisEnd, StasisStart
from ccari.ari.ids import Kind
from ccari.ari.models import Bridge, Channel
from ccari.ari.router import StasisRouter
from ccari.contacts import repo
from ccari.errors import Conflict, NotFound
from ccari.storage.models import Agent
from ccari.voice import monitoring
from ccari.voice.calls import Call
from ccari.voice.hold import safe
from ccari.voice.legs import dial
from ccari.voice.monitor_layouts import SNOOP_ARG, Layouts, Session
from ccari.voice.monitoring import IllegalSwitch, Mode, NoAgent
from ccari.voice.services import VoiceService
from ccari.voice.transfer_targets import video_leg

log = logging.getLogger(__name__)
RING_S = 30
STASIS_ARG = "supervisor"


class Supervision:
    def __init__(self, voice: VoiceService, hub: AgentHub) -> None:
        self._voice = voice
        self._ari: AriClient = voice.ari
        self._hub = hub
        self._sessions: dict[str, Session] = {}
        self._layouts = Layouts(voice, hub)  # the sessions' plans carried out on Asterisk
        voice.agent_part_over.append(self.call_over)
        voice.agent_left.append(self.agent_left)
        voice.page_views.append(self.page_view)

    # ---- queries ---------------------------------------------------------------------------
    def of_contact(self, contact_id: str) -> list[Session]:
        return [s for s in self._sessions.values() if s.contact_id == contact_id]

    def live(self, contact_id: str) -> dict[str, Any]:
        """What this node knows of a call beyond its contact row: on hold, muted, who
        monitors it (empty when another node has the call)."""
        call = self._voice.calls.by_contact(contact_id)
        if call is None:
            return {}
        return {"on_hold": call.held_at is not None, "muted": call.muted,
                "taken_over_by": call.taken_over_by,
                "monitors": [s.view() for s in self.of_contact(contact_id)]}

    async def page_view(self, call: Call) -> list[dict[str, Any]]:
        """Who whispers to the agent or is in her call (listening is not shown)."""
        return [{"type": "monitored", "contact_id": call.contact_id,
                 "supervisor": s.supervisor_name, "mode": s.mode.value}
                for s in self.of_contact(call.contact_id)
                if s.answered and monitoring.LAYOUTS[s.mode].seen_by_agent]

    def holds(self, channel_id: str) -> bool:
        kind = ids.kind_of(channel_id)
        return kind in (Kind.SUPERVISOR_LEG, Kind.SNOOP) and self._of_object(channel_id) is not None

    def _of_object(self, object_id: str) -> Session | None:
        kind = ids.kind_of(object_id)
        if kind is None:
            return None
        session_id = ids.rest_of(object_id, kind).partition("-")[0]
        return self._sessions.get(session_id)

    def _live_call(self, supervisor: Agent, contact_id: str) -> Call:
        call = self._voice.calls.by_contact(contact_id)
        if call is None or call.tenant_id != supervisor.tenant_id:
            raise NotFound("no such call in progress", error_id="call-not-found")
        if call.phase != "connected" or not call.bridge_id:
            raise Conflict(f"the call is {call.phase}", error_id="call-not-connected")
        return call

    @staticmethod
    def _check_mode(call: Call, mode: Mode) -> None:
        """409 ``agent-not-in-call`` for whisper or take over once the agent has left."""
        try:
            # A call taken over has the supervisor who took it in the agent's place.
            monitoring.check_mode(mode, agent_in_call=call.agent_id is not None
                                  or call.taken_over_by is not None)
        except NoAgent as exc:
            raise Conflict(str(exc), error_id="agent-not-in-call") from None

    def _mine(self, supervisor: Agent, contact_id: str) -> Session | None:
        return next((s for s in self.of_contact(contact_id)
                     if s.supervisor_id == supervisor.id), None)

    # ---- the supervisor's commands ---------------------------------------------------------
    async def monitor(self, supervisor: Agent, contact_id: str, mode: Mode) -> dict[str, Any]:
        """Start a session in ``mode`` (her phone rings), or switch her session to it."""
        call = self._live_call(supervisor, contact_id)
        self._check_mode(call, mode)
        session = self._mine(supervisor, contact_id)
        if session is not None:
            await self._switch(session, mode)
            return session.view()
        session = Session(secrets.token_hex(8), contact_id, call.tenant_id, supervisor.id,
                          supervisor.display_name, mode)
        self._sessions[session.id] = session  # a second request meanwhile switches this one
        await self._log(session, "monitor-started", mode=mode.value, leg=session.leg)
        try:
            await self._ari.create_bridge(session.bridge, type="mixing")
            await dial(self._ari, self._voice.legs, call.tenant_id,
                       f"PJSIP/{supervisor.phone_username}", session.leg,
                       video=video_leg(call.medium, supervisor),
                       app_args=(STASIS_ARG, session.id), timeout=RING_S, caller_id="monitor")
        except AriError as exc:
            log.warning("contact %s: dialling supervisor %s failed: %s", contact_id,
                        supervisor.id, exc)
            await self._end(session, "phone-unreachable")
            raise Conflict("the supervisor's phone cannot be dialled",
                           error_id="phone-unreachable") from None
        log.info("contact %s: supervisor %s monitors (%s), session %s", contact_id,
                 supervisor.id, mode, session.id)
        return session.view()

    async def stop(self, supervisor: Agent, contact_id: str) -> dict[str, Any]:
        session = self._mine(supervisor, contact_id)
        call = self._voice.calls.by_contact(contact_id)
        if session is None or call is None or call.tenant_id != supervisor.tenant_id:
            raise NotFound("you do not monitor this call", error_id="not-monitoring")
        await self._end(session, "stopped")
        return {"session": session.id, "contact_id": contact_id, "state": "stopped"}

    async def _switch(self, session: Session, mode: Mode) -> None:
        async with session.lock:
            if mode is session.mode:
                return
            try:
                steps = monitoring.plan(session.mode, mode) if session.answered else None
            except IllegalSwitch as exc:
                raise Conflict(str(exc), error_id="call-taken-over") from None
            await self._log(session, "monitor-mode", mode=mode.value, was=session.mode.value)
            before, session.mode = session.mode, mode
            if steps is not None:  # else the layout is made when her phone answers
                await self._layouts.carry_out(session, steps)
            log.info("contact %s: session %s from %s to %s", session.contact_id, session.id,
                     before, mode)

    # ---- Asterisk's side -------------------------------------------------------------------
    async def answered(self, channel_id: str, session_id: str) -> None:
        """The supervisor's phone answered: the session's layout is made."""
        session = self._sessions.get(session_id)
        if session is None or channel_id != session.leg:
            await safe(self._ari.hangup(channel_id, reason="normal"))
            return
        async with session.lock:
            session.answered = True
            await self._layouts.carry_out(session, monitoring.plan(None, session.mode))

    async def snoop_started(self, channel_id: str) -> None:
        """A snoop entered Stasis: into the session's bridge if still wanted, else gone."""
        session = self._of_object(channel_id)
        if session is None or session.snoop != channel_id:
            await safe(self._ari.hangup(channel_id, reason="normal"))
            return
        await safe(self._ari.add_channel(session.bridge, channel_id))

    async def channel_gone(self, channel_id: str) -> None:
        """The supervisor hung up (or never answered): the session ends, the call stays."""
        session = self._of_object(channel_id)
        if session is not None and channel_id == session.leg:
            await self._end(session, "supervisor-hangup" if session.answered else "no-answer",
                            leg_gone=True)

    async def agent_left(self, call: Call) -> None:
        """The agent left a call that goes on (the caller holds the call's lock): a session
        that heard her leg's snoop hears the customer's; a whisper becomes listen."""
        # Not under the session's lock: a take-over holds it and then waits for the call's.
        for session in self.of_contact(call.contact_id):
            mode, steps = monitoring.after_agent_left(session.mode)
            if mode is not session.mode:
                await self._log(session, "monitor-mode", mode=mode.value,
                                was=session.mode.value, reason="agent-left")
                session.mode = mode
            if session.answered:  # else the layout is made when her phone answers
                await self._layouts.carry_out(session, steps)

    async def call_over(self, contact_id: str) -> None:
        """The call's agent part is over (the caller holds the call's lock)."""
        for session in self.of_contact(contact_id):
            await self._end(session, "call-ended")

    async def _end(self, session: Session, reason: str, *, leg_gone: bool = False) -> None:
        """End the session: saved, then what it has in Asterisk goes (``Layouts.tear_down``);
        the agent's page told if she saw it."""
        if self._sessions.pop(session.id, None) is None:
            return  # ended already
        await self._log(session, "monitor-stopped", reason=reason)
        await self._layouts.tear_down(session, leg_gone=leg_gone)
        call = self._voice.calls.by_contact(session.contact_id)
        if (call is not None and call.agent_id is not None and session.answered
                and monitoring.LAYOUTS[session.mode].seen_by_agent):
            await self._hub.send(call.agent_id, {
                "type": "monitored", "contact_id": session.contact_id,
                "supervisor": session.supervisor_name, "mode": None})
        log.info("contact %s: session %s of supervisor %s ended (%s)", session.contact_id,
                 session.id, session.supervisor_id, reason)

    async def _log(self, session: Session, kind: str, **data: Any) -> None:
        async with self._voice.sessions() as db:
            contact = await repo.get(db, session.contact_id, session.tenant_id)
            if contact is not None:
                await repo.log(db, contact, kind, self._voice.now(), monitor=session.id,
                               supervisor_id=session.supervisor_id, **data)
                await db.commit()

    # ---- restart, reconnect, shutdown --------------------------------------------------------
    async def reconcile(self) -> None:
        """After an ARI (re)connect (the voice ACD's reconcile has run): the sessions a
        previous process left on this node's calls are taken up again; what else Asterisk
        has of sessions this process does not know is hung up; sessions whose phone
        Asterisk no longer has end."""
        found = {c.id: c for c in await self._ari.list_channels()}
        listed = await self._ari.list_bridges()
        await self._rebuild(found, listed)
        channels, bridges = set(found), {b.id for b in listed}
        for ch in channels:
            if ids.kind_of(ch) in (Kind.SUPERVISOR_LEG, Kind.SNOOP) and self._of_object(ch) is None:
                await safe(self._ari.hangup(ch, reason="normal"))
        for br in bridges:
            if ids.kind_of(br) is Kind.MONITOR_BRIDGE and self._of_object(br) is None:
                await safe(self._ari.destroy_bridge(br))
        for session in list(self._sessions.values()):
            if session.leg not in channels:
                await self._end(session, "lost", leg_gone=True)

    async def _rebuild(self, channels: dict[str, Channel], bridges: list[Bridge]) -> None:
        """Each session the contact's log has open, whose phone Asterisk still has, made
        again in its mode: a new snoop and silence, her phone moved where the mode wants it
        (one not yet answered is made when it answers).  A take-over's call is the voice
        ACD's: its session is kept as it is (her phone in the call's bridge)."""
        for call in self._voice.calls.all():
            if call.phase != "connected" or not call.bridge_id:
                continue
            async with self._voice.sessions() as db:
                logged = monitoring.logged_sessions(
                    (e.kind, e.data or {})
                    for e in await repo.events(db, call.tenant_id, call.contact_id))
                names = dict((await db.execute(select(Agent.id, Agent.display_name).where(
                    Agent.id.in_([x.supervisor_id for x in logged.values()])))).tuples().all())
            for sid, was in logged.items():
                session = Session(sid, call.contact_id, call.tenant_id, was.supervisor_id,
                                  names.get(was.supervisor_id, ""), was.mode, fills=was.fills)
                leg = channels.get(session.leg)
                if sid in self._sessions or leg is None:
                    continue
                self._sessions[sid] = session
                old = [ch for ch in channels if ids.kind_of(ch) is Kind.SNOOP
                       and self._of_object(ch) is session]
                session.snoops = max((int(ch.rpartition("-")[2]) for ch in old), default=0)
                await asyncio.gather(
                    *(safe(self._ari.hangup(ch, reason="normal")) for ch in old),
                    *(safe(self._ari.stop_playback(ids.make(Kind.WHISPER_FILL, sid, n)))
                      for n in range(1, was.fills + 1)))
                log.info("reconcile: contact %s: session %s of supervisor %s goes on (%s)",
                         call.contact_id, sid, was.supervisor_id, was.mode)
                if leg.state == "Up":
                    session.answered = True
                    session.bridged_in = next(
                        (b.id for b in bridges if session.leg in b.channels), None)
                    if was.mode is Mode.TAKE_OVER:
                        continue
                    async with session.lock:
                        await self._layouts.carry_out(session, monitoring.plan(None, was.mode))

    async def close(self) -> None:
        for session in list(self._sessions.values()):
            await self._end(session, "shutdown")


def register(ari: AriClient, router: StasisRouter, supervision: Supervision) -> None:
    """The supervision's declaration to the Stasis router and its ARI handlers."""
    owner = router.owner("supervision", stasis_args=(STASIS_ARG, SNOOP_ARG),
                         kinds=(Kind.SUPERVISOR_LEG, Kind.SNOOP, Kind.MONITOR_BRIDGE,
                                Kind.WHISPER_FILL),
                         holds=supervision.holds)

    async def on_start(ev: StasisStart) -> None:
        kind = ev.args[0] if ev.args else ""
        if kind == STASIS_ARG and len(ev.args) >= 2:
            await supervision.answered(ev.channel.id, ev.args[1])
        elif kind == SNOOP_ARG:
            await supervision.snoop_started(ev.channel.id)

    async def on_gone(ev: StasisEnd | ChannelDestroyed) -> None:
        await supervision.channel_gone(ev.channel.id)

    owner.on(StasisStart, on_start)
    owner.on(StasisEnd, on_gone)
    owner.on(ChannelDestroyed, on_gone)
    ari.on_connected(supervision.reconcile)
