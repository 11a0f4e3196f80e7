"""An answered call's first steps, before it waits for an agent: its overflow treatment
(the callback offer, a voicemail), else the IVR menu, then the queue; or, on "call me back",
a callback instead (``ccari.callbacks``, through the :class:`~ccari.voice.ports.IvrCallbacks`
port).

The IVR (``ivr.py``) decides; :class:`Treatment` carries out its commands (prompts, timers,
the way out) on ARI and in the hot path's shared commits.  Every method runs under the
call's lock, taken by the caller (the voice service).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable

from ccari.ari import AriClient, ids
from ccari.ari.ids import Kind
from ccari.contacts.services import QueueService
from ccari.storage.batch import GroupCommit
from ccari.tasks import TaskSet
from ccari.voice import ivr as ivr_mod
from ccari.voice import moves
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import Hold, safe
from ccari.voice.overflow import Overflow
from ccari.voice.ports import IvrCallbacks, SpeechPort

log = logging.getLogger(__name__)


class Treatment:
    def __init__(self, ari: AriClient, calls: CallRegistry, queue: QueueService, hold: Hold,
                 overflow: Overflow, writes: GroupCommit, tasks: TaskSet,
                 sound: Callable[[str], str], now: Callable[[], dt.datetime], *,
                 callbacks: IvrCallbacks | None, speech: SpeechPort | None = None) -> None:
        self._ari = ari
        self._calls = calls
        self._queue = queue
        self._hold = hold
        self._overflow = overflow
        self._writes = writes
        self._tasks = tasks
        self._sound = sound
        self._now = now
        self._callbacks = callbacks
        self._speech = speech

    async def start(self, call: Call, menu: ivr_mod.Menu | None) -> None:
        """The answered call's first step: its overflow treatment, else the IVR or the queue."""
        if call.overflow == "voicemail":
            await self._overflow.recorder.start(call)
        elif call.overflow == "callback":
            call.ivr = ivr_mod.Ivr(self._overflow.offer_menu())
            await self._run(call, call.ivr.start())
        elif menu is None:
            await self.enqueue(call, {})
        else:
            call.ivr = ivr_mod.Ivr(menu)
            if self._speech is not None and menu.labels:
                call.speech = await self._speech.listen(
                    call.channel_id, call.contact_id, menu.labels,
                    functools.partial(self._speech_started, call),
                    functools.partial(self._heard, call))
            await self._run(call, call.ivr.start())

    async def _speech_started(self, call: Call) -> None:
        async with call.lock:
            if call.phase == "ivr" and call.ivr is not None:
                await self._run(call, call.ivr.on_speech_started())

    async def _heard(self, call: Call, said: str, confidence: float, digit: str | None) -> None:
        async with call.lock:
            if call.phase != "ivr" or call.ivr is None:
                return
            log.info("contact %s said %r (confidence %.2f): option %s", call.contact_id, said,
                     confidence, digit)
            at = call.ivr.at
            await self._run(call, call.ivr.on_speech(said, confidence, digit))
            if call.speech is not None and call.ivr.at is not at:  # into a sub-menu
                call.speech.use(call.ivr.at.labels)

    async def _stop_listening(self, call: Call) -> None:
        if call.speech is not None:
            session, call.speech = call.speech, None
            await session.stop()

    async def digit(self, call: Call, digit: str) -> None:
        if call.phase == "ivr" and call.ivr is not None:
            at = call.ivr.at
            await self._run(call, call.ivr.on_digit(digit))
            if call.speech is not None and call.ivr.at is not at:  # into a sub-menu
                call.speech.use(call.ivr.at.labels)

    async def prompt_finished(self, call: Call, generation: int) -> None:
        if call.phase == "ivr" and call.ivr is not None:
            await self._run(call, call.ivr.on_playback_finished(generation))

    async def _run(self, call: Call, commands: list[ivr_mod.Command]) -> None:
        for cmd in commands:
            if isinstance(cmd, ivr_mod.Play):
                call.playback_id = ids.make(Kind.IVR_PROMPT, call.contact_id, cmd.generation)
                await safe(self._ari.play(
                    call.channel_id, [self._sound(m) for m in cmd.media],
                    playback_id=call.playback_id,
                ))
            elif isinstance(cmd, ivr_mod.StopPlayback):
                if call.playback_id:
                    await safe(self._ari.stop_playback(call.playback_id))
                    call.playback_id = None
            elif isinstance(cmd, ivr_mod.StartTimer):
                call.timer = self._tasks.spawn(
                    self._timeout(call, cmd.seconds, cmd.generation), f"ivr-{call.contact_id}"
                )
            elif isinstance(cmd, ivr_mod.StopListening):
                await self._stop_listening(call)
            elif isinstance(cmd, ivr_mod.Finish):
                await self._stop_listening(call)
                await self._finish(call, cmd)

    async def _finish(self, call: Call, cmd: ivr_mod.Finish) -> None:
        if cmd.attributes is None:
            if call.overflow:
                await self._overflow.end(call, "callback-declined")
            else:
                await safe(self._ari.hangup(call.channel_id, reason="normal"))
            return
        attrs: dict[str, object] = dict(cmd.attributes)
        if cmd.action == ivr_mod.CALLBACK and await self._callback_instead(call, attrs):
            return  # the caller keeps their place as a callback
        if call.overflow:  # never queued: the tenant is over its trunk limit
            await self._overflow.end(call, "callback-refused")
        else:
            await self.enqueue(call, attrs, call.ivr.history if call.ivr else None)

    async def _timeout(self, call: Call, seconds: float, generation: int) -> None:
        await asyncio.sleep(seconds)
        async with call.lock:
            if call.ivr is not None and call.phase == "ivr":
                await self._run(call, call.ivr.on_timeout(generation))

    async def enqueue(self, call: Call, attributes: dict[str, object],
                      ivr: list[str] | None = None) -> None:
        """Out of the IVR (``ivr``: the digits pressed, kept for the screen pop) into the queue."""
        contact = await self._writes.run(
            functools.partial(moves.routed, contact_id=call.contact_id, attributes=attributes,
                              at=self._now(), ivr=list(ivr) if ivr is not None else None))
        if contact is None:
            return
        call.phase = "queued"
        log.info("contact %s queued with %s", call.contact_id, contact.attributes)
        await self._queue.enqueue(contact)
        if call.phase == "queued":
            self._hold.start(call)

    async def _callback_instead(self, call: Call, attrs: dict[str, object]) -> bool:
        """IVR "call me back": True when ccari.callbacks took the caller (it confirms and
        hangs up); False (none attached, number refused): the caller is queued as usual."""
        source = "overflow" if call.overflow else "ivr"
        if self._callbacks is None or not await self._callbacks.take_from_ivr(
                call.channel_id, call.contact_id, dict(attrs), source=source):
            return False
        call.cancel_timers()
        call.phase = "ended"
        self._calls.remove(call)
        return True
