"""ARI events -> VoiceService, registered by type and Stasis arguments (the only ARI glue)."""

from __future__ import annotations

import logging

from ccari.ari import AriClient
from ccari.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from ccari.voice.reconcile import reconcile
from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


def register(ari: AriClient, voice: VoiceService) -> None:
    async def on_start(ev: StasisStart) -> None:
        kind = ev.args[0] if ev.args else ""
        if kind == "inbound" and len(ev.args) >= 2:
            caller = ev.channel.caller
            await voice.inbound(ev.channel.id, ev.args[1], caller.number or None,
                                caller.name or None)
        elif kind == "agent" and len(ev.args) >= 2:
            await voice.agent_answered(ev.channel.id, ev.args[1])
        else:
            log.debug("ignoring StasisStart of %s with args %s", ev.channel.id, ev.args)

    async def on_gone(ev: StasisEnd | ChannelDestroyed) -> None:
        cause = ev.cause if isinstance(ev, ChannelDestroyed) else None
        await voice.channel_gone(ev.channel.id, cause)
        # After the contact ended: a dead call (RTP timeout, session timer) says so.
        if isinstance(ev, ChannelDestroyed):
            await voice.dead_calls.channel_ended(ev.channel.id, ev.cause)
        else:
            await voice.dead_calls.channel_ended(ev.channel.id)

    def on_hangup_request(ev: ChannelHangupRequest) -> None:
        voice.dead_calls.hangup_requested(ev.channel.id, ev.cause, ev.soft)

    async def on_dtmf(ev: ChannelDtmfReceived) -> None:
        await voice.dtmf(ev.channel.id, ev.digit)

    async def on_playback(ev: PlaybackFinished) -> None:
        await voice.playback_finished(ev.playback.id)

    async def on_recording(ev: RecordingFinished | RecordingFailed) -> None:
        await voice.overflow.recording_ended(ev.recording.name)

    ari.on(StasisStart, on_start)
    ari.on(StasisEnd, on_gone)
    ari.on(ChannelDestroyed, on_gone)
    ari.on(ChannelDtmfReceived, on_dtmf)
    ari.on(ChannelHangupRequest, on_hangup_request)
    ari.on(PlaybackFinished, on_playback)
    ari.on(RecordingFinished, on_recording)
    ari.on(RecordingFailed, on_recording)
    ari.on_connected(lambda: reconcile(voice))
