"""Reconnect, then reconcile: rebuild the voice calls from Asterisk's live channels and the DB.

Asterisk replays nothing after the ARI websocket comes back, and after a ccari restart the
memory is empty.  For each open voice contact of this node, :func:`decide` (pure) chooses
the :class:`Step` from the stored state and what Asterisk reports; :func:`reconcile` carries
it out through the voice service's public methods:

=========================  ======================================  =====================
stored state               Asterisk (and memory)                   step
=========================  ======================================  =====================
any                        caller's channel gone, Asterisk started NODE_LOST
                           since the call came
any                        caller's channel gone                   CALLER_GONE
ivr                        caller up, call not in memory           RESTART_TREATMENT
ivr                        caller up, call in memory               KEEP
queued                     caller up, call not in memory           RESUME_HOLD
queued                     caller up, call in memory               KEEP
offered                    agent leg answered                      CONNECT
offered                    agent leg gone, call in memory          OFFER_FAILED
offered                    agent leg ringing or gone, not in mem.  REQUEUE
offered                    agent leg ringing, call in memory       KEEP
connected                  agent leg gone                          AGENT_GONE
connected                  agent leg up                            KEEP
connected                  the agent left her conference (log)     KEEP
=========================  ======================================  =====================

A call lost with its Asterisk (it died and was started again, or another took its place)
is not the caller's doing: its contact ends as ``media-node-lost`` (failed if it waited
for an agent, and that caller is called back when the tenant allows it).

(After a completed consult, "the agent leg" is the consulted party's: the call's other side.)

(A call whose agent left her conference to the others goes on without her: her leg is not
the call's any more; the conference's parties are rebuilt by ``conference.py``.)

A connected call kept (``KEEP``) that this process did not have gets its agent's controls
back from the contact's log and the call's bridge (:func:`controls`): a caller the log
says is on hold, or held for a consult under way (``consult_rules.py``), is held again (out
of the bridge, music on her channel: re-applied, since a process killed half way may have
left either undone), with the time she has been held; a
caller out of the bridge whom the log does not say is held is given back (a resume cut
short); a muted agent stays muted (ARI reports no mute: it is applied again).

(An overflow voicemail still recording, or recorded while ccari was away, is settled by
the recorder first: its end comes as an event, or it is kept now.)  Channels in our Stasis
app that no contact knows (a call that arrived while the socket was down) are treated as
new inbound calls; bridges of ours that no open contact owns are destroyed.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from ccari.ari import ids
from ccari.ari.ids import Kind
from ccari.ari.models import Bridge, Channel
from ccari.contacts import repo
from ccari.contacts.lifecycle import State
from ccari.routing import CALLS, Medium
from ccari.storage.models import ContactEvent, Number
from ccari.tenants import repo as tenants_repo
from ccari.tenants.directory import menu_of
from ccari.voice import consult_rules
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.hold import safe
from ccari.voice.offers import agent_channel_of
from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
CONTROL_EVENTS = ("held", "resumed", "muted", "unmuted", *consult_rules.HOLDS,
                  *consult_rules.RESUMES, "conference-agent-left")


class Step(enum.Enum):
    KEEP = "keep"
    CALLER_GONE = "caller-gone"
    NODE_LOST = "node-lost"
    RESTART_TREATMENT = "restart-treatment"
    RESUME_HOLD = "resume-hold"
    CONNECT = "connect"
    OFFER_FAILED = "offer-failed"
    REQUEUE = "requeue"
    AGENT_GONE = "agent-gone"


@dataclass(frozen=True)
class Logged:
    """The agent's controls as the contact's log has them (saved before Asterisk is told)."""

    held_since: dt.datetime | None = None  # on hold since then; None: not on hold
    hold_s: float = 0.0  # the holds before, in seconds
    muted: bool = False
    consult_since: dt.datetime | None = None  # held for a consult under way since then

    @property
    def on_hold_since(self) -> dt.datetime | None:
        """Since when the caller is held, by the agent or for a consult."""
        found = [t for t in (self.held_since, self.consult_since) if t is not None]
        return min(found) if found else None


@dataclass(frozen=True)
class Controls:
    """What a connected call rebuilt after a restart needs for its controls."""

    hold: bool = False  # (re)put the caller on hold: out of the bridge, music
    resume: bool = False  # give the caller back to the bridge, music off
    mute: bool = False  # (re)mute the agent's leg


def controls(logged: Logged, *, caller_in_bridge: bool) -> Controls:
    """The log decides what the agent asked; Asterisk's bridge, whether a step was cut short."""
    held = logged.on_hold_since is not None
    return Controls(hold=held, resume=not held and not caller_in_bridge, mute=logged.muted)


def logged_controls(events: Iterable[tuple[str, dt.datetime, dict[str, Any]]]) -> Logged:
    """The controls of one contact from its ``held``/``resumed``/``muted``/``unmuted`` events
    and its consults' holds (a consult's end gives the caller back, as ``consults.py``
    does; so does the agent leaving her conference, with her mute), in order.  A
    ``resumed`` event carries the call's hold seconds so far; a hold that a consult's end
    or her leaving ended adds its own."""
    out = Logged()
    for kind, at, data in events:
        if kind == "conference-agent-left":
            out = replace(_given_back(out, at), muted=False)
        elif kind in consult_rules.HOLDS:
            out = replace(out, consult_since=at)
        elif kind in consult_rules.RESUMES:  # a completed one: the agent's mute went with her
            out = replace(_given_back(out, at),
                          muted=out.muted and kind != "consult-completed")
        elif kind == "held":
            out = replace(out, held_since=at)
        elif kind == "resumed":
            out = replace(out, held_since=None, hold_s=float(data.get("hold_s", 0.0)))
        elif kind in ("muted", "unmuted"):
            out = replace(out, muted=kind == "muted")
    return out


def _given_back(logged: Logged, at: dt.datetime) -> Logged:
    """The caller back in the call at ``at``: the hold under way (if any) is over."""
    since = logged.on_hold_since
    held = max(0.0, (at - since).total_seconds()) if since is not None else 0.0
    return replace(logged, held_since=None, consult_since=None, hold_s=logged.hold_s + held)


def decide(state: str, *, in_memory: bool, caller_up: bool, agent_leg: str | None,
           agent_left: bool = False, before_start: bool = False) -> Step:
    """What one open voice contact needs after a reconnect.  ``agent_leg``: the state
    Asterisk reports for the agent's channel ("Up", "Ringing"...), None if it has none;
    ``agent_left``: she left her conference to the others (the call goes on);
    ``before_start``: the call came before this Asterisk started."""
    if not caller_up:
        return Step.NODE_LOST if before_start else Step.CALLER_GONE
    if state == State.IVR:
        return Step.KEEP if in_memory else Step.RESTART_TREATMENT
    if state == State.QUEUED:
        return Step.KEEP if in_memory else Step.RESUME_HOLD
    if state == State.OFFERED:
        if agent_leg == "Up":
            return Step.CONNECT
        if not in_memory:
            return Step.REQUEUE  # the ring was started by a process that is gone
        return Step.OFFER_FAILED if agent_leg is None else Step.KEEP
    if state == State.CONNECTED:
        return Step.AGENT_GONE if agent_leg is None and not agent_left else Step.KEEP
    return Step.KEEP


async def reconcile(voice: VoiceService) -> None:
    ari = voice.ari
    channels = {c.id: c for c in await ari.list_channels()}
    bridges = {b.id: b for b in await ari.list_bridges()}
    started = (await ari.info()).startup_time  # a call that came before was lost with it
    async with voice.sessions() as s:
        contacts = await repo.open_contacts(s, voice.node, CALLS)
        settings: dict[int | None, QueueSettings] = {}
        menus = {}
        for c in contacts:
            if c.queue_id not in settings:
                q = await tenants_repo.queue(s, c.tenant_id, c.queue_id)
                settings[c.queue_id] = QueueSettings.of(q, voice.config)
            if c.state == State.IVR and c.number_id is not None and c.id not in menus:
                number = await s.get(Number, c.number_id)
                if number is not None:
                    menus[c.id] = await tenants_repo.menu(s, c.tenant_id, number.ivr_menu_id)
        rows = (await s.execute(
            select(ContactEvent.contact_id, ContactEvent.kind, ContactEvent.at,
                   ContactEvent.data)
            .where(ContactEvent.contact_id.in_([c.id for c in contacts
                                                if c.state == State.CONNECTED]),
                   ContactEvent.kind.in_(CONTROL_EVENTS))
            .order_by(ContactEvent.id))).all()
    control_log: dict[str, list[tuple[str, dt.datetime, dict[str, Any]]]] = {}
    for contact_id, kind, at, data in rows:
        control_log.setdefault(contact_id, []).append((kind, at, data or {}))
    known: set[str] = set()
    for contact in contacts:
        agent_left = contact.state == State.CONNECTED and "agent_left" in contact.meta
        # A completed consult's leg is the call's other side, in the agent's place.
        handed_to = consult_rules.handed_over(
            (kind, data) for kind, _, data in control_log.get(contact.id, []))
        # A supervisor who took the call over: her phone's leg is the call's other side.
        taken_over = contact.meta.get("taken_over_by") if agent_left else None
        agent_leg = handed_to or (contact.agent_channel_id if taken_over else None) \
            if agent_left else contact.agent_channel_id or (
                agent_channel_of(contact) if contact.state == State.OFFERED else None)
        known.update(x for x in (contact.channel_id, agent_leg) if x)
        call = voice.calls.by_contact(contact.id)
        in_memory = call is not None
        if call is None:
            assert contact.channel_id is not None
            call = Call(contact.id, contact.tenant_id, contact.channel_id,
                        settings[contact.queue_id], Medium(contact.medium), phase=contact.state,
                        agent_id=None if agent_left or handed_to else contact.agent_id,
                        bridge_id=contact.bridge_id)
            call.overflow = contact.meta.get("overflow")
            call.taken_over_by = taken_over
            call.after_hours = "after_hours" in contact.meta
            voice.calls.add(call)
            if handed_to:  # the consults' leg, not the voice ACD's: its end is theirs
                call.agent_channel_id = handed_to
            elif agent_leg:
                voice.calls.link_agent_channel(call, agent_leg)
        if not in_memory and call.overflow == "voicemail":
            async with call.lock:
                if await voice.overflow.recorder.resume(call):
                    continue
        agent = channels.get(agent_leg or "")
        step = decide(contact.state, in_memory=in_memory, caller_up=contact.channel_id in channels,
                      agent_leg=agent.state if agent is not None else None,
                      agent_left=agent_left,
                      before_start=started is not None and contact.arrived_at < started)
        if step is not Step.KEEP:
            log.info("reconcile: contact %s (%s): %s", contact.id, contact.state, step.value)
        if step is Step.CALLER_GONE:
            await voice.channel_gone(contact.channel_id or "")
            continue
        if step is Step.NODE_LOST:
            await voice.node_lost(contact.channel_id or "")
            continue
        async with call.lock:
            if step is Step.RESTART_TREATMENT:  # answered again if it was not yet
                row = menus.get(contact.id)
                menu = menu_of(row) if row is not None else None
                caller = channels.get(contact.channel_id or "")
                if caller is not None and caller.state == "Up":
                    # Not answered again, and the prompt a previous process may still be
                    # playing (a quick restart) stopped first: Asterisk runs a channel's
                    # requests (an answer, joining a bridge) only after its playback ends.
                    await voice.stop_previous_prompts(call)
                    await voice.treat(call, menu)
                else:
                    await voice.answer_and_treat(call, menu)
            elif step is Step.RESUME_HOLD:
                call.moh = None  # whatever the previous process left playing
                voice.hold.start(call)
                await voice.route_cut_short(contact)
            elif step is Step.CONNECT:
                await voice.connect(call)
            elif step is Step.OFFER_FAILED:
                await voice.offer_failed(call)
            elif step is Step.REQUEUE:
                if agent is not None:
                    await voice.hangup(agent.id)
                await voice.requeue(call)
                await voice.route_requeued(contact)
            elif step is Step.AGENT_GONE:
                await voice.finish(call, "agent-hangup")
            elif not in_memory and contact.state == State.CONNECTED:
                await _restore(voice, call, logged_controls(control_log.get(contact.id, [])),
                               bridges.get(call.bridge_id or ""))
    for ch in channels.values():
        if ch.id not in known and voice.calls.by_channel(ch.id) is None and _is_ours(ch, ari.app):
            log.info("reconcile: channel %s arrived while we were away", ch.id)
            voice.take_late(ch.id, ch.dialplan.exten, ch.caller.number or None, ch.caller.name or None)
    ours = {ids.make(Kind.BRIDGE, c.id) for c in contacts}
    for bridge_id in bridges:
        if ids.kind_of(bridge_id) is Kind.BRIDGE and bridge_id not in ours:
            await voice.destroy_bridge(bridge_id)


async def _restore(voice: VoiceService, call: Call, logged: Logged, bridge: Bridge | None) -> None:
    """The agent's controls of a connected call this process did not have (its lock held)."""
    todo = controls(logged, caller_in_bridge=bridge is not None
                    and call.channel_id in bridge.channels)
    ari, call.hold_s = voice.ari, logged.hold_s
    since = logged.on_hold_since
    if todo.hold and since is not None:
        held_for = max(0.0, (voice.now() - since).total_seconds())
        call.held_at = time.monotonic() - held_for
        if bridge is not None and call.channel_id in bridge.channels:
            await safe(ari.remove_channel(bridge.id, call.channel_id))
        await safe(ari.start_moh(call.channel_id, voice.config.moh_class))
        call.moh = True
    elif todo.resume and call.bridge_id:
        await safe(ari.stop_moh(call.channel_id))
        await safe(ari.add_channel(call.bridge_id, call.channel_id))
    if todo.mute and call.agent_channel_id:
        call.muted = True
        await safe(ari.mute(call.agent_channel_id, "in"))
    if todo != Controls():
        log.info("reconcile: contact %s: %s", call.contact_id, todo)


def _is_ours(channel: Channel, app: str) -> bool:
    return channel.dialplan.app_name == "Stasis" and channel.dialplan.app_data.startswith(
        f"{app},inbound")
