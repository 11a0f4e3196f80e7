"""How a live call ends: a leg hangs up, Asterisk sends the caller elsewhere (fax tones), or
ccari ends it (the agent's page, a failed transfer, a conference over, the agent's browser
phone lost with its page).  Each end is a move
of the contact's lifecycle out of the call's live state, carried out here: the lifecycle's
commands, the legs that must stop, the contact's move and its trunk in one shared commit,
then the router and the agent's page.  :class:`~ccari.voice.services.VoiceService` holds one
and hands it each hang-up under the call's lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ccari.agents.notifier import Pages
from ccari.ari import AriClient
from ccari.ari.errors import AriNotFound
from ccari.ari.rest import HangupReason
from ccari.contacts import lifecycle
from ccari.contacts.lifecycle import NODE_LOST, Command, Fact
from ccari.contacts.services import QueueService
from ccari.storage.batch import GroupCommit
from ccari.storage.db import DATABASE_DOWN
from ccari.voice import moves
from ccari.voice.afterhours import CLOSED
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import safe
from ccari.voice.ports import AdmissionPort

log = logging.getLogger(__name__)


class Endings:
    def __init__(self, ari: AriClient, calls: CallRegistry, writes: GroupCommit,
                 queue: QueueService, hub: Pages, admission: AdmissionPort,
                 now: Callable[[], dt.datetime], *,
                 offer_failed: Callable[[Call], Awaitable[None]],
                 left_agent: Callable[[str], Awaitable[None]],
                 agent_leaving: list[Callable[[Call], Awaitable[bool]]],
                 leaving: list[Callable[[str], Awaitable[str | None]]]) -> None:
        """``agent_leaving`` and ``leaving``: the voice service's listener lists (other
        contexts add to them after this is built)."""
        self._ari = ari
        self._calls = calls
        self._writes = writes
        self._queue = queue
        self._hub = hub
        self._admission = admission
        self.now = now
        self._offer_failed = offer_failed
        self._left_agent = left_agent
        self._agent_leaving = agent_leaving
        self._leaving = leaving
        # Agent legs ccari hung up because her phone went away: the disposition of their end.
        self._lost: dict[str, str] = {}

    async def agent_lost(self, agent_id: int, disposition: str) -> list[str]:
        """The agent's phone went away mid-call (her browser phone's page was lost): her leg
        of each connected call is hung up and the call ends as her hang-up ends it (a
        conference goes on without her), recorded with ``disposition``.  The contacts."""
        found = []
        for call in self._calls.all():
            if call.agent_id != agent_id:  # not hers: its lock is not waited for
                continue
            async with call.lock:
                leg = call.agent_channel_id
                if call.agent_id != agent_id or call.phase != "connected" or leg is None \
                        or call.taken_over_by is not None:
                    continue
                self._lost[leg] = disposition
                log.info("contact %s: agent %s's phone is gone (%s): her leg hangs up",
                         call.contact_id, agent_id, disposition)
                found.append(call.contact_id)
            try:
                await self._ari.hangup(leg, reason="normal")  # its end comes as channel_gone
            except AriNotFound:
                await self.channel_gone(leg)  # already gone: end it here
        return found

    async def channel_gone(self, channel_id: str, cause: int | None = None) -> None:
        lost = self._lost.pop(channel_id, None)
        call = self._calls.by_channel(channel_id)
        if call is None:
            return
        async with call.lock:
            if channel_id == call.channel_id:
                await self._caller_gone(call)
            elif channel_id == call.agent_channel_id:
                if call.phase == "offered":
                    log.info("contact %s: agent %s did not answer (cause %s)",
                             call.contact_id, call.agent_id, cause)
                    await self._offer_failed(call)
                elif call.phase == "connected":
                    for goes_on in self._agent_leaving:
                        if await goes_on(call):
                            return
                    who = "agent" if call.taken_over_by is None else "supervisor"
                    await self.finish(call, lost or f"{who}-hangup", gone=channel_id)

    async def _caller_gone(self, call: Call) -> None:
        if call.phase == "recording":
            # the voicemail is kept when Asterisk reports the recording's end
            await self.release(call)
            return
        if call.phase in ("ivr", "queued", "offered", "connected"):
            fact = Fact.ENDED if call.phase == "connected" else Fact.CUSTOMER_LEFT
            save = (functools.partial(moves.ended, disposition="caller-hangup",
                                      hold_s=call.hold_total(time.monotonic()))
                    if fact is Fact.ENDED else moves.abandoned)
            await self._follow(call, fact, save, gone=call.channel_id)
        else:
            if call.phase == CLOSED:
                self._calls.remove(call)
            await self.release(call)

    async def left_for(self, channel_id: str) -> str | None:
        """Why a channel left Stasis alive (asked of every ``leaving`` listener); None: it
        hung up."""
        for ask in self._leaving:
            try:
                why = await ask(channel_id)
            except Exception:
                log.exception("call %s: a listener of its leaving failed", channel_id)
                continue
            if why is not None:
                return why
        return None

    async def diverted(self, channel_id: str, disposition: str) -> None:
        """The caller's channel left for the dialplan by itself (Asterisk found fax tones on
        it): the voice contact ends with ``disposition`` and the channel is no longer ours."""
        call = self._calls.by_channel(channel_id)
        if call is None or channel_id != call.channel_id:
            return
        async with call.lock:
            log.info("contact %s: the caller left the voice call (%s)", call.contact_id,
                     disposition)
            if call.phase == "connected":
                await self.finish(call, disposition, gone=channel_id)
            elif call.phase in ("ivr", "queued", "offered"):
                fact = Fact.SELF_SERVED if call.phase == "ivr" else Fact.CUSTOMER_LEFT
                await self._follow(call, fact, functools.partial(
                    moves.diverted, fact=fact, disposition=disposition), gone=channel_id)
            else:
                await self._caller_gone(call)

    async def node_lost(self, channel_id: str) -> bool:
        """The Asterisk that carried the caller's channel died under it (it is gone with
        every leg): the contact ends as ``media-node-lost``, failed if it waited for an
        agent (ccari could not keep it; not the caller's abandon), else as it would on a
        hang-up.  True if the caller was waiting for an agent (queued or offered)."""
        call = self._calls.by_channel(channel_id)
        if call is None or channel_id != call.channel_id:
            return False
        async with call.lock:
            waiting = call.phase in ("queued", "offered")
            log.info("contact %s: lost with its Asterisk (%s)", call.contact_id, call.phase)
            if call.phase == "connected":
                await self.finish(call, NODE_LOST, gone=channel_id)
            elif call.phase in ("ivr", "queued", "offered"):
                fact = Fact.GAVE_UP if waiting else Fact.CUSTOMER_LEFT
                await self._follow(call, fact, functools.partial(
                    moves.diverted, fact=fact, disposition=NODE_LOST), gone=channel_id)
            else:
                await self._caller_gone(call)
            return waiting

    async def finish(self, call: Call, disposition: str, gone: str | None = None) -> None:
        """End a connected call; ``gone`` is the leg that already hung up (not asked again)."""
        await self._follow(call, Fact.ENDED, functools.partial(
            moves.ended, disposition=disposition, hold_s=call.hold_total(time.monotonic())),
            gone=gone)

    async def _follow(self, call: Call, fact: Fact, save: Callable[..., Any], *,
                      gone: str | None) -> None:
        """Carry out a call's move by ``fact`` out of its live state: the lifecycle's commands,
        Asterisk's side first where a leg must stop ringing, the contact's move and its trunk
        in one shared commit, then the router and the agent's page."""
        if not lifecycle.allows(call.phase, fact):
            log.debug("contact %s: %s after the call was %s", call.contact_id, fact, call.phase)
            return
        previous, call.phase = call.phase, "ended"  # what comes meanwhile finds it over
        commands = lifecycle.move(previous, fact).commands
        call.cancel_timers()
        legs: list[Awaitable[object]] = []
        if Command.WITHDRAW in commands and call.agent_channel_id:
            await self._hangup(call.agent_channel_id, "normal")  # stop the agent's ring first
        if Command.DISCONNECT in commands:
            legs = [self._hangup(ch, "normal") for ch in (call.channel_id, call.agent_channel_id)
                    if ch and ch != gone]
            if call.bridge_id:
                legs.append(safe(self._ari.destroy_bridge(call.bridge_id)))
        release = self.release(call) if Command.RELEASE in commands else asyncio.sleep(0)
        try:
            await asyncio.gather(release, self._writes.run(
                functools.partial(save, contact_id=call.contact_id, at=self.now())), *legs)
        except DATABASE_DOWN:
            call.phase = previous  # not saved: the move can be made again (the reconcile)
            raise
        self._calls.remove(call)
        if previous == "connected":
            await self._left_agent(call.contact_id)
        if Command.DEQUEUE in commands:
            await self._queue.withdraw(call.contact_id)
        if Command.WITHDRAW in commands and call.agent_id is not None:
            await self._hub.send(call.agent_id, {"type": "withdrawn", "contact_id": call.contact_id})
        if Command.WRAP_UP in commands:
            if call.agent_id is not None:
                await self._hub.send(call.agent_id, {"type": "completed", "contact_id": call.contact_id})
            await self._queue.completed(call.contact_id, call.agent_id, call.settings.wrap_up_s)
        log.info("contact %s %s in %s", call.contact_id,
                 "completed" if fact is Fact.ENDED else "abandoned", previous)

    async def release(self, call: Call) -> None:
        """Give the caller's trunk back, once: the caller's own hang-up that follows the end
        of a connected call finds it already given back."""
        if not call.trunk_released:
            call.trunk_released = True
            try:
                await self._admission.release(call.channel_id)
            except BaseException:
                call.trunk_released = False  # the next leg's end tries again
                raise

    async def _hangup(self, channel_id: str, reason: HangupReason) -> None:
        await safe(self._ari.hangup(channel_id, reason=reason))
