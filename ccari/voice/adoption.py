"""Callers taken over from a node whose ccari died while its Asterisk lives on.

A ccari node drives its own Asterisk's calls.  When it dies (killed, its host's ccari gone)
its Asterisk keeps the callers on the line, waiting in Stasis for an application nobody
runs.  The routing leader, once it has seen the node absent for the node timeout
(:mod:`ccari.cluster.lost`), moves each caller not yet with an agent to its own Asterisk,
where its voice ACD takes her back: into the queue in her place if she was waiting, to her
number's menu from the start if she was in the IVR:

1. the router forgets the call while it moves (an offer to an agent is withdrawn from her
   page without counting a miss, and the ring the dead node started is hung up);
2. over the dead node's ARI (``cluster.standby_ari``) the caller's channel gets where to go
   (``sip:adopt-<token>@`` this node's Asterisk, a one-time token) and this node's peer key,
   and leaves Stasis for the dialplan's ``ccari-adopt``, which dials it with music meanwhile;
3. this node's Asterisk takes the call on ``ccari-peer`` (identified by the key alone) into
   Stasis as ``(adopt, <token>)``; for a token it gave, the contact is moved to this node
   (its channel, and the trunk it holds, now this node's: same contact, same place in the
   queue, its wait going on), answered, put on hold and routed again (or its menu played).

The two Asterisk nodes keep the two legs bridged in their dialplans until either hangs up;
an agent's answer bridges her on this node as for any call.  Connected calls stay in the dead
node's bridge: their two channels are looked at from here every second (the agent busy with
the call, its trunk held by this node) until one side hangs up; the other is then hung up and
the call ends as any call does.  Meanwhile this node answers for the call (the contact's
``watched_by``, whatever node the agent's page is on): she can hold and resume it, mute and
unmute herself and hang up, over the dead node's ARI (:mod:`ccari.voice.watched`).
A caller whose move does not complete in ``cluster.adopt_timeout_s`` (the dead node's
Asterisk unreachable, or gone under her) is left to the leader, which closes her call as
lost with its node and calls her back when the tenant allows it.  Nothing is dialled
twice: one token per move, used once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import update
from sqlalchemy.orm import Session
from yarl import URL

from ccari.admission.models import TrunkCall
from ccari.agents.commands import Relay, field
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.ari.ids import make as make_id
from ccari.ari.rest import AriRest
from ccari.contacts import lifecycle, repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import NODE_LOST, Fact, State
from ccari.errors import ConfigError, NotFound
from ccari.routing import Medium
from ccari.storage.models import Agent, Contact, ContactEvent, Number, Queue
from ccari.tasks import TaskSet
from ccari.tenants import repo as tenants_repo
from ccari.tenants.directory import menu_of
from ccari.voice import moves
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.hold import safe
from ccari.voice.services import VoiceService
from ccari.voice.watched import WatchedCall

log = logging.getLogger(__name__)
CONTEXT, EXTENSION = "ccari-adopt", "out"  # the dialplan's hand-over (dialplans/ccari.conf.j2)
ADOPTED = "adopted"  # the contact's log: moved from a dead node's Asterisk to this one's
# Callers not yet with an agent: in the IVR (its menu starts again here) or waiting.
MOVABLE = (State.IVR, State.QUEUED, State.OFFERED)


@dataclass(frozen=True)
class StandbyAri:
    """The ARI of another node's Asterisk, as ``cluster.standby_ari`` names it."""

    node: str
    url: str
    user: str
    password: str


def parse_standby(entries: Iterable[str]) -> dict[str, StandbyAri]:
    """``<node>=http://<user>:<password>@<host>:<port>`` entries, by node."""
    out: dict[str, StandbyAri] = {}
    for entry in entries:
        node, sep, raw = entry.partition("=")
        url = URL(raw.strip()) if sep else URL()
        if not node.strip() or url.scheme not in ("http", "https") or not url.host \
                or not url.user or not url.password:
            raise ConfigError(f"cluster.standby_ari: {entry.split('@')[-1]!r} is not "
                              "<node>=http://<ari user>:<ari password>@<host>:<port>")
        out[node.strip()] = StandbyAri(node.strip(), str(url.with_user(None).with_path("")),
                                       url.user, url.password)
    return out


@dataclass(frozen=True)
class Adopted:
    """What was done with a dead node's calls: ``kept``, the contacts taken over (moved here,
    or watched where they are); ``over``, its connected calls seen ended in its Asterisk
    (their agents are free)."""

    kept: set[str] = dataclasses.field(default_factory=set)
    over: set[str] = dataclasses.field(default_factory=set)


@dataclass
class _Move:
    contact_id: str
    node: str  # the dead node it moves from
    done: asyncio.Future[bool]


class Adoption:
    def __init__(self, voice: VoiceService, http: aiohttp.ClientSession,
                 standby: dict[str, StandbyAri], *, own_uri: str, peer_key: str,
                 timeout_s: float, relay: Relay | None = None,
                 tend_every_s: float = 1.0) -> None:
        """``own_uri``: this node's Asterisk as the others reach it (sip:<host>:<port>);
        ``peer_key``: the key its ``ccari-peer`` endpoint takes; ``relay``: the agents'
        commands across nodes (a watched call's come here); ``tend_every_s``: how often a
        dead node's connected calls are looked at."""
        self._voice = voice
        self._http = http
        self._standby = standby
        self._host = own_uri.removeprefix("sip:")
        self._key = peer_key
        self._timeout_s = timeout_s
        self._tend_every_s = tend_every_s
        self._relay = relay
        self._moves: dict[str, _Move] = {}
        self._watched: dict[str, WatchedCall] = {}
        self._tasks = TaskSet("adoption")

    async def adopt(self, node: str, contacts: Iterable[Contact]) -> Adopted:
        """Take over what can be of ``contacts`` (``node``'s open calls): its callers not yet
        with an agent moved here, its connected calls watched from here to their end, and
        those seen over in its Asterisk told (the others are left as they are)."""
        standby = self._standby.get(node)
        calls = [c for c in contacts if Medium(c.medium) is Medium.VOICE and c.channel_id]
        waiting = [c for c in calls if c.state in MOVABLE]
        talking = [c for c in calls if c.state == State.CONNECTED and c.bridge_id
                   and c.agent_channel_id and "agent_left" not in c.meta]
        if standby is None or not (waiting or talking):
            return Adopted()
        peer = AriRest(self._http, standby.url, standby.user, standby.password, "ccari",
                       request_timeout=self._timeout_s)
        try:
            live = {c.id for c in await peer.list_channels()}
        except (AriError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("adoption: the Asterisk of node %s does not answer (%s): its callers "
                        "are not taken over", node, exc)
            return Adopted()
        started = time.monotonic()
        results = await asyncio.gather(*(self._move(peer, node, c, live) for c in waiting))
        moved = {c.id for c, ok in zip(waiting, results, strict=True) if ok}
        log.warning("adoption: %d of node %s's %d waiting callers taken over in %.2f s", len(moved),
                    node, len(waiting), time.monotonic() - started)
        tended, over = await self._tend(peer, node, talking, live)
        return Adopted(kept=moved | tended, over=over)

    async def _tend(self, peer: AriRest, node: str, talking: list[Contact],
                    live: set[str]) -> tuple[set[str], set[str]]:
        """The dead node's connected calls go on in its Asterisk's bridge: each is watched
        from here (its trunk held by this node meanwhile) until one side hangs up; then the
        other is hung up and the call ends as any call does (the agent wraps up).  A call
        one side of which is already gone is over: the side left is hung up here and the
        call is left to the leader to close, its agent free.  The watched, and the over."""
        tended: set[str] = set()
        over: set[str] = set()
        for contact in talking:
            parties = {contact.channel_id or "", contact.agent_channel_id or ""}
            if not parties <= live:  # it ended as its node died
                for channel in parties & live:
                    await safe(peer.hangup(channel, reason="normal"))
                await safe(peer.destroy_bridge(contact.bridge_id or ""))
                log.info("adoption: contact %s, connected on node %s, was over there",
                         contact.id, node)
                over.add(contact.id)
                continue
            # Her slot busy with it (the dead node may have saved her answer and died before
            # the router heard of it: she would stay reserved by the offer).
            await self._voice.queue.accepted(contact.id)
            await self._voice.writes.run(functools.partial(
                _watched_here, contact_id=contact.id, call_id=contact.channel_id or "",
                here=self._voice.node))
            log.info("adoption: contact %s, connected on node %s, watched from here",
                     contact.id, node)
            watched = self._watched[contact.id] = WatchedCall(
                peer, contact, self._voice.config.moh_class, self._voice.log_event)
            if self._relay is not None:
                self._relay.watch(contact.id, self._control)
            self._tasks.spawn(self._watch(watched), f"tend-{contact.id}")
            tended.add(contact.id)
        return tended, over

    async def _watch(self, watched: WatchedCall) -> None:
        try:
            await self._watch_to_end(watched)
        finally:
            self._watched.pop(watched.contact.id, None)
            if self._relay is not None:
                self._relay.unwatch(watched.contact.id)

    async def _watch_to_end(self, watched: WatchedCall) -> None:
        voice, peer, contact = self._voice, watched.peer, watched.contact
        parties = {contact.channel_id, contact.agent_channel_id}
        misses = 0
        while True:
            await asyncio.sleep(self._tend_every_s)
            try:  # both sides still there (the caller out of the bridge while held)
                here = {c.id for c in await peer.list_channels()} & parties
            except (AriError, aiohttp.ClientError, TimeoutError) as exc:
                misses += 1  # that Asterisk gone too: its calls went with it
                if misses * self._tend_every_s < self._timeout_s:
                    continue
                log.warning("adoption: contact %s: its node's Asterisk is gone (%s)",
                            contact.id, exc)
                here, disposition = set(), NODE_LOST
            else:
                misses = 0
                if parties <= here:
                    continue
                disposition = "agent-hangup" if contact.channel_id in here else "caller-hangup"
            async with watched.lock:  # no control half-done on the line that ends
                for channel in here:
                    await safe(peer.hangup(channel, reason="normal"))
                await safe(peer.destroy_bridge(contact.bridge_id or ""))
                hold_s = watched.hold_total(time.monotonic())
            async with voice.sessions() as s:
                queue = await s.get(Queue, contact.queue_id) if contact.queue_id else None
            ended = await voice.writes.run(functools.partial(
                moves.ended, contact_id=contact.id, at=voice.now(), disposition=disposition,
                hold_s=hold_s))
            await voice.admission.release(contact.channel_id or "")
            if ended is not None:
                await Executor(voice.queue).carry_out(
                    ended, lifecycle.move(State.CONNECTED, Fact.ENDED).commands,
                    agent_id=contact.agent_id,
                    wrap_up_s=QueueSettings.of(queue, voice.config).wrap_up_s)
                log.info("adoption: contact %s ended (%s) on its dead node's Asterisk",
                         contact.id, disposition)
            return

    async def _control(self, agent: Agent, message: dict[str, Any]) -> dict[str, Any] | None:
        """The agent's command about a call watched here (``ccari.voice.watched``)."""
        watched = self._watched.get(field(message, "contact_id"))
        if watched is None or watched.contact.agent_id != agent.id \
                or watched.contact.tenant_id != agent.tenant_id:
            raise NotFound("no such call for you", error_id="contact-not-found")
        return await watched.command(agent, str(message.get("type")))

    async def _move(self, peer: AriRest, node: str, contact: Contact, live: set[str]) -> bool:
        assert contact.channel_id is not None
        if contact.channel_id not in live:
            return False  # she hung up meanwhile: the leader closes the call
        voice = self._voice
        if contact.state != State.IVR:
            await voice.queue.withdraw(contact.id)  # nobody offers her while she moves
        if contact.state == State.OFFERED:
            await voice.writes.run(functools.partial(moves.requeued, contact_id=contact.id,
                                                     at=voice.now()))
            if contact.agent_id is not None:  # not her miss: her page drops it
                await voice.queue.pages.send(contact.agent_id, {"type": "withdrawn",
                                                                "contact_id": contact.id})
            ring = make_id(Kind.AGENT_LEG, contact.id) + "-"
            for channel in live:
                if channel.startswith(ring):
                    await safe(peer.hangup(channel, reason="normal"))
        # Asterisk runs a channel's requests after the prompt it is playing: the menu's is
        # stopped first (ids of its generations; most are 404s); a queue announcement (its
        # id is the dead process's own) is let finish, within the move's time.
        await asyncio.gather(*(safe(peer.stop_playback(make_id(Kind.IVR_PROMPT, contact.id, n)))
                               for n in range(1, 13)))
        token = secrets.token_hex(16)
        move = _Move(contact.id, node, asyncio.get_running_loop().create_future())
        self._moves[token] = move
        try:
            await peer.set_var(contact.channel_id, "CCARI_ADOPT_URI",
                               f"sip:adopt-{token}@{self._host}")
            await peer.set_var(contact.channel_id, "_CCARI_PEER_KEY", self._key)
            await peer.continue_in_dialplan(contact.channel_id, CONTEXT, EXTENSION, 1)
            return await asyncio.wait_for(move.done, self._timeout_s)
        except (AriError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("adoption: contact %s not taken over from node %s (%s)", contact.id,
                        node, exc or type(exc).__name__)
            return False
        finally:
            self._moves.pop(token, None)

    async def arrived(self, channel_id: str, token: str) -> None:
        """A caller handed over to this node's Asterisk (Stasis ``adopt, <token>``)."""
        voice = self._voice
        move = self._moves.get(token)
        if move is None or move.done.done():
            log.warning("adoption: call %s with a token nobody gave (or used): hung up",
                        channel_id)
            await safe(voice.ari.hangup(channel_id, reason="rejected"))
            return
        try:
            contact = await voice.writes.run(functools.partial(
                _moved, contact_id=move.contact_id, node=move.node, here=voice.node,
                channel_id=channel_id, at=voice.now()))
            if contact is None:  # she hung up, or the leader closed her call meanwhile
                await safe(voice.ari.hangup(channel_id, reason="normal"))
                move.done.set_result(False)
                return
            async with voice.sessions() as s:
                queue = await s.get(Queue, contact.queue_id) if contact.queue_id else None
                number = await s.get(Number, contact.number_id) if contact.number_id else None
                row = await tenants_repo.menu(s, contact.tenant_id, number.ivr_menu_id) \
                    if contact.state == State.IVR and number is not None else None
            call = Call(contact.id, contact.tenant_id, channel_id,
                        QueueSettings.of(queue, voice.config), phase=contact.state)
            if contact.state == State.IVR:  # her menu from the start, on this node
                voice.calls.add(call)
                async with call.lock:
                    await voice.answer_and_treat(call, menu_of(row) if row is not None else None)
            else:
                call.moh = None
                await voice.ari.answer(channel_id)
                await voice.queue_adopted(call, contact)
            log.info("adoption: contact %s taken over from node %s (call %s)", contact.id,
                     move.node, channel_id)
            move.done.set_result(True)
        finally:
            if not move.done.done():
                move.done.set_result(False)

    async def close(self) -> None:
        await self._tasks.close()
        for move in self._moves.values():
            with contextlib.suppress(asyncio.InvalidStateError):
                move.done.set_result(False)


def _watched_here(s: Session, *, contact_id: str, call_id: str, here: str) -> None:
    """A dead node's connected call watched by ``here``: its commands go there, and so does
    the trunk it holds (the dead node's other trunks are freed)."""
    contact = repo.get_sync(s, contact_id)
    if contact is not None:
        s.execute(update(Contact).where(Contact.id == contact_id)
                  .values(meta={**contact.meta, "watched_by": here}))
    s.execute(update(TrunkCall).where(TrunkCall.call_id == call_id).values(node=here))


def _moved(s: Session, *, contact_id: str, node: str, here: str, channel_id: str,
           at: dt.datetime) -> Contact | None:
    """The waiting contact moved from ``node`` to ``here`` on ``channel_id``, with the trunk
    it holds (None: it is no longer waiting on ``node``)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.node != node or contact.state not in (State.IVR, State.QUEUED):
        return None
    before = contact.channel_id
    contact.node, contact.channel_id = here, channel_id
    changed = s.execute(update(Contact).where(Contact.id == contact_id, Contact.node == node,
                                              Contact.state == contact.state)
                        .values(node=here, channel_id=channel_id))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    s.execute(update(TrunkCall).where(TrunkCall.call_id == before)
              .values(call_id=channel_id, node=here))
    s.add(ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=ADOPTED,
                       data={"from_node": node, "to_node": here}))
    return contact
