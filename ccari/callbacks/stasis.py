"""ARI events -> the callbacks :class:`~ccari.callbacks.dialer.Dialer` (the only ARI glue).

Its declaration to the Stasis router: the calls it takes (StasisStart with the arguments
``(callback, <attempt>)`` or ``(cbagent, <contact>)``), the ids it makes (``cb-``, ``cba-``,
``cbp-``, ``cbc-``) and the channels it holds (its attempts, agent legs and the IVR callers it
is confirming); the router gives it their events and nobody else's.  After every
(re)connect, :func:`ccari.callbacks.reconcile.reconcile` runs before the scheduler places
anything.
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
from ccari.ari.ids import Kind, kind_of
from ccari.ari.router import StasisRouter
from ccari.callbacks.dialer import Dialer
from ccari.callbacks.reconcile import reconcile

log = logging.getLogger(__name__)


KINDS = (Kind.CALLBACK_LEG, Kind.CALLBACK_AGENT_LEG, Kind.CALLBACK_PROMPT, Kind.CALLBACK_CONFIRM)


def register(ari: AriClient, router: StasisRouter, dialer: Dialer) -> None:
    owner = router.owner("callbacks", stasis_args=("callback", "cbagent"), kinds=KINDS,
                         holds=dialer.holds)

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
        if kind_of(ev.channel.id) not in (Kind.CALLBACK_LEG, Kind.CALLBACK_AGENT_LEG):
            await dialer.channel_gone(ev.channel.id, None)

    async def on_dtmf(ev: ChannelDtmfReceived) -> None:
        if kind_of(ev.channel.id) is Kind.CALLBACK_LEG:
            await dialer.dtmf(ev.channel.id, ev.digit)

    async def on_playback(ev: PlaybackFinished) -> None:
        await dialer.playback_finished(ev.playback.id)

    async def on_connected() -> None:
        await reconcile(dialer)
        dialer.service.start()

    owner.on(StasisStart, on_start)
    owner.on(ChannelDestroyed, on_gone)
    owner.on(StasisEnd, on_end)
    owner.on(ChannelDtmfReceived, on_dtmf)
    owner.on(PlaybackFinished, on_playback)
    ari.on_connected(on_connected)
