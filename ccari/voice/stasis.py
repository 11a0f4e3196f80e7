"""ARI events -> VoiceService (the only ARI glue): the voice ACD's declaration to the Stasis
router (the calls it takes, the ids it makes, the channels it holds) and its handlers."""

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
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.voice.reconcile import reconcile
from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


KINDS = (Kind.AGENT_LEG, Kind.BRIDGE, Kind.IVR_PROMPT, Kind.ANNOUNCEMENT, Kind.VOICEMAIL_PROMPT,
         Kind.VOICEMAIL)


def register(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
    owner = router.owner("voice", stasis_args=("inbound", "agent"), kinds=KINDS,
                         holds=lambda channel: voice.calls.by_channel(channel) is not None)

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
        # An agent leg's bandwidth is given back however its call went (twice is harmless).
        await voice.legs.release(ev.channel.id)
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

    owner.on(StasisStart, on_start)
    owner.on(StasisEnd, on_gone)
    owner.on(ChannelDestroyed, on_gone)
    owner.on(ChannelDtmfReceived, on_dtmf)
    owner.on(ChannelHangupRequest, on_hangup_request)
    owner.on(PlaybackFinished, on_playback)
    owner.on(RecordingFinished, on_recording)
    owner.on(RecordingFailed, on_recording)
    ari.on_connected(lambda: reconcile(voice))
    # A shedding share left in the dialplan by a process that died would keep every call
    # away from this one: the share is told again on every connect.
    ari.on_connected(voice.load.connected)
