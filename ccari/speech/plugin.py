"""Wiring of the speech context into the runtime (called once by ccari.app.runtime).

``install`` builds the recogniser and the :class:`SpeechService`, offers it to the voice
ACD as its speech port (``rt.speech``, handed to ``VoiceService`` when the composition root
builds it), and declares the speech channels to the Stasis router once ARI exists.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from ccari.ari import AriClient
from ccari.ari.events import ChannelDestroyed, StasisEnd, StasisStart
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.speech.recognizer import Recognizer
from ccari.speech.services import SpeechService

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
KINDS = (Kind.SPEECH_SNOOP, Kind.SPEECH_MEDIA, Kind.SPEECH_BRIDGE)


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    cfg = rt.config.speech
    if not cfg.enabled:
        return
    try:
        recognizer = Recognizer()
    except ImportError:
        log.warning("speech: pocketsphinx is not installed: IVR menus take digits only")
        return
    service = SpeechService(cfg, recognizer)
    stack.push_async_callback(service.close)
    rt.speech = service

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        service.bind(ari)
        owner = router.owner("speech", kinds=KINDS)

        def on_start(ev: StasisStart) -> None:
            log.debug("speech channel %s in Stasis", ev.channel.id)
            service.in_stasis(ev.channel.id)

        async def on_gone(ev: StasisEnd | ChannelDestroyed) -> None:
            await service.ended(ev.channel.id)

        owner.on(StasisStart, on_start)
        owner.on(StasisEnd, on_gone)
        owner.on(ChannelDestroyed, on_gone)
        ari.on_connected(service.reconcile)

    rt.pbx_setups.append(attach)
