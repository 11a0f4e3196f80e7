"""ARI events -> the callbacks :class:`~ccari.callbacks.dialer.Dialer` (the only ARI glue).

Registered next to the voice ACD's handlers (``ccari.voice.stasis``); each side acts only on
its own ids: StasisStart with the arguments ``(callback, <attempt>)`` or ``(cbagent,
<contact>)``, channels ``cb-...``/``cba-...`` and the IVR confirmation's channel, playbacks
``cbp-...``/``cbc-...``.  After every (re)connect, :func:`ccari.callbacks.reconcile.reconcile`
runs before the scheduler places anything.
"""

from __future__ import annotations

import logging

from ccari.ari import AriClient
from ccari.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from ccari.callbacks.dialer import Dialer
from ccari.callbacks.reconcile import reconcile

log = logging.getLogger(__name__)


def register(ari: AriClient, dialer: Dialer) -> None:
    async def on_start(ev: StasisStart) -> None:
        kind = ev.args[0] if ev.args else ""
        if kind == "callback" and len(ev.args) >= 2 and ev.args[1] == ev.channel.id:
            await dialer.customer_answered(ev.channel.id)
        elif kind == "cbagent" and len(ev.args) >= 2:
            await dialer.agent_first.answered(ev.channel.id, ev.args[1])

    async def on_gone(ev: ChannelDestroyed) -> None:
        await dialer.channel_gone(ev.channel.id, ev.cause)

    async def on_end(ev: StasisEnd) -> None:
        # A caller who came in through the dialplan leaves our app (and our subscription)
        # at StasisEnd: its ChannelDestroyed may never reach us.  Our originated channels
        # stay subscribed until destroyed, with the hang-up cause.
        if not ev.channel.id.startswith(("cb-", "cba-")):
            await dialer.channel_gone(ev.channel.id, None)

    async def on_dtmf(ev: ChannelDtmfReceived) -> None:
        if ev.channel.id.startswith("cb-"):
            await dialer.dtmf(ev.channel.id, ev.digit)

    async def on_playback(ev: PlaybackFinished) -> None:
        if ev.playback.id.startswith(("cbp-", "cbc-")):
            await dialer.playback_finished(ev.playback.id)

    async def on_connected() -> None:
        await reconcile(dialer)
        dialer.service.start()

    ari.on(StasisStart, on_start)
    ari.on(ChannelDestroyed, on_gone)
    ari.on(StasisEnd, on_end)
    ari.on(ChannelDtmfReceived, on_dtmf)
    ari.on(PlaybackFinished, on_playback)
    ari.on_connected(on_connected)
