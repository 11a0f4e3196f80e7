"""ARI events -> VoiceService (the only ARI glue): the voice ACD's declaration to the Stasis
router (the calls it takes, the ids it makes, the channels it holds) and its handlers.

A call event whose handling fails because the database is down (a caller's end, an agent's
answer) is not lost: once the database answers again the voice calls are reconciled with
Asterisk (:class:`AfterOutage`), as after a reconnect.  A new caller meanwhile gets the
fallback (``VoiceService.inbound``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ccari import logs
from ccari.ari import AriClient, ids
from ccari.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.storage.db import DATABASE_DOWN
from ccari.voice.reconcile import reconcile
from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


KINDS = (Kind.AGENT_LEG, Kind.BRIDGE, Kind.IVR_PROMPT, Kind.ANNOUNCEMENT, Kind.VOICEMAIL_PROMPT,
         Kind.VOICEMAIL)


class AfterOutage:
    """One reconcile of the voice calls once the database answers again (asked by every
    handler that failed on it meanwhile; retried with backoff while it is still down)."""

    def __init__(self, voice: VoiceService, first_s: float = 0.5, max_s: float = 5.0) -> None:
        self._voice = voice
        self._delays = (first_s, max_s)
        self._pending = False

    def lost(self, what: str, channel_id: str, exc: BaseException) -> None:
        log.warning("call %s: %s not saved, the database is unreachable (%s); reconciled "
                    "when it answers again", channel_id, what, exc)
        if not self._pending:
            self._pending = True
            self._voice.background(self._run(), "reconcile-after-database-outage")

    async def _run(self) -> None:
        delay, most = self._delays
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    await reconcile(self._voice)
                except DATABASE_DOWN as exc:
                    log.info("voice reconcile: the database is still unreachable (%s)", exc)
                    delay = min(2 * delay, most)
                    continue
                log.warning("voice calls reconciled after the database outage")
                return
        finally:
            self._pending = False


def register(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
    owner = router.owner("voice", stasis_args=("inbound", "agent"), kinds=KINDS,
                         holds=lambda channel: voice.calls.by_channel(channel) is not None)
    outage = AfterOutage(voice)

    def about(channel_id: str) -> contextlib.AbstractContextManager[None]:
        """The log lines of a call's event carry its contact (an inbound call's from when
        its contact exists: ``VoiceService.inbound``)."""
        call = voice.calls.by_channel(channel_id)
        return logs.contact(call.contact_id, call.tenant_id) if call else contextlib.nullcontext()

    async def on_start(ev: StasisStart) -> None:
        try:
            await _start(ev)
        except DATABASE_DOWN as exc:
            outage.lost("its arrival", ev.channel.id, exc)

    async def _start(ev: StasisStart) -> None:
        kind = ev.args[0] if ev.args else ""
        if kind == "inbound" and len(ev.args) >= 2:
            caller = ev.channel.caller
            await voice.inbound(ev.channel.id, ev.args[1], caller.number or None,
                                caller.name or None)
        elif kind == "agent" and len(ev.args) >= 2:
            with about(ev.channel.id):
                await voice.agent_answered(ev.channel.id, ev.args[1])
        else:
            log.debug("ignoring StasisStart of %s with args %s", ev.channel.id, ev.args)

    async def on_gone(ev: StasisEnd | ChannelDestroyed) -> None:
        cause = ev.cause if isinstance(ev, ChannelDestroyed) else None
        with about(ev.channel.id):
            try:
                if isinstance(ev, StasisEnd):
                    # Left for the dialplan alive, sent there by Asterisk (fax tones found:
                    # ccari.fax takes it back), rather than hung up.
                    why = await voice.left_for(ev.channel.id)
                    if why is not None:
                        await voice.diverted(ev.channel.id, why)
                        return
                # An agent leg's bandwidth is given back however its call went (twice is harmless).
                await voice.legs.release(ev.channel.id)
                await voice.channel_gone(ev.channel.id, cause)
            except DATABASE_DOWN as exc:
                outage.lost("its end", ev.channel.id, exc)
                return
            # After the contact ended: a dead call (RTP timeout, session timer) says so.
            if isinstance(ev, ChannelDestroyed):
                await voice.dead_calls.channel_ended(ev.channel.id, ev.cause)
            else:
                await voice.dead_calls.channel_ended(ev.channel.id)

    def on_state(ev: ChannelStateChange) -> None:
        if ev.channel.state == "Ringing" and ids.kind_of(ev.channel.id) is Kind.AGENT_LEG:
            voice.leg_ringing(ev.channel.id)

    def on_hangup_request(ev: ChannelHangupRequest) -> None:
        with about(ev.channel.id):
            voice.dead_calls.hangup_requested(ev.channel.id, ev.cause, ev.soft)

    async def on_dtmf(ev: ChannelDtmfReceived) -> None:
        with about(ev.channel.id):
            try:
                await voice.dtmf(ev.channel.id, ev.digit)
            except DATABASE_DOWN as exc:
                outage.lost("its IVR choice", ev.channel.id, exc)

    async def on_playback(ev: PlaybackFinished) -> None:
        await voice.playback_finished(ev.playback.id)

    async def on_recording(ev: RecordingFinished | RecordingFailed) -> None:
        await voice.overflow.recording_ended(ev.recording.name)

    owner.on(StasisStart, on_start)
    owner.on(StasisEnd, on_gone)
    owner.on(ChannelDestroyed, on_gone)
    owner.on(ChannelDtmfReceived, on_dtmf)
    owner.on(ChannelHangupRequest, on_hangup_request)
    owner.on(ChannelStateChange, on_state)
    owner.on(PlaybackFinished, on_playback)
    owner.on(RecordingFinished, on_recording)
    owner.on(RecordingFailed, on_recording)
    ari.on_connected(lambda: reconcile(voice))
    # A shedding share left in the dialplan by a process that died would keep every call
    # away from this one: the share is told again on every connect.
    ari.on_connected(voice.load.connected)
