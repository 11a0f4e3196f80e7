"""ARI glue of talk now: a ``Stasis(app, web, <signed context>)`` call from the ``from-web``
context (the customer endpoint, through ccari's relay) is checked and handed to the voice
ACD (:class:`ccari.voice.webcalls.WebArrivals`), which holds the channel from then on."""

from __future__ import annotations

import logging

from ccari.ari import AriClient
from ccari.ari.events import StasisStart
from ccari.ari.router import StasisRouter
from ccari.errors import Unauthorized
from ccari.routing import Medium
from ccari.talk.context import Signer
from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


def register(ari: AriClient, router: StasisRouter, voice: VoiceService, signer: Signer) -> None:
    owner = router.owner("talk", stasis_args=("web",))

    async def on_start(ev: StasisStart) -> None:
        try:
            call = signer.open_context(ev.args[1] if len(ev.args) > 1 else "")
        except Unauthorized as exc:
            # Only ccari's relay can put a valid context there: a forged or stale one.
            log.warning("web call %s refused: %s", ev.channel.id, exc.error_id)
            await voice.hangup(ev.channel.id)
            return
        await voice.web.arrived(ev.channel.id, call.tenant_id, page_url=call.page_url,
                                topic=call.topic, chat_id=call.chat_id,
                                cobrowse_id=call.cobrowse_id,
                                medium=Medium.VIDEO if call.video else Medium.VOICE,
                                identity=call.identity)

    owner.on(StasisStart, on_start)
