"""The customer's SIP websocket (``GET /v1/talk/ws?ticket=...``): what the shared relay
(:mod:`ccari.web.sip_relay`) lets through.

Unlike the agent's browser phone, the page has no SIP account: :func:`frames` lets one
anonymous call through to the tenant's ``talk`` target (:func:`ccari.talk.sip.check`) and
marks it with the customer endpoint's key and the ticket's signed context, which Asterisk's
``from-web`` context hands to Stasis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ccari.talk.sip import Dialog, check
from ccari.web.sip_relay import Check, Frame

log = logging.getLogger(__name__)
MAX_FRAME = 16 * 1024
#: Refused requests a page may send before the relay gives up on it.
MAX_REFUSALS = 5


def frames(dialog: Dialog, on_audio_only: Callable[[], None] = lambda: None) -> Check:
    """The check of each frame of this ticket's page; ``on_audio_only`` once the page has
    switched its video call to audio only (the re-INVITE goes on to Asterisk as it is)."""

    def one(text: str) -> Frame:
        verdict = check(text, dialog)
        if verdict.audio_only:
            log.info("talk %s: the page went audio only", dialog.identity)
            on_audio_only()
        stop = False
        if verdict.error is not None:
            log.warning("talk %s: refused a request: %s (%r, %d characters)", dialog.identity,
                        verdict.error, text.partition("\r\n")[0][:80], len(text))
            stop = len(dialog.refused) >= MAX_REFUSALS
        return Frame(verdict.forward, verdict.reply, stop)

    return one
