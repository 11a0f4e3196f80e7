"""Wiring of the voicemail context into the runtime (called once by ccari.app.runtime).

``install`` builds the :class:`VoicemailService`, makes the agent page the deliverer of
medium ``voicemail`` and adds the routes; :func:`attach` (run once ARI and the voice ACD
exist) gives the voice path's recorder its port, which turns the ``voicemail`` overflow
treatment on.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from ccari.voicemail import http
from ccari.voicemail.services import MEDIUM, VoicemailService

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, deliverers and the PBX hook of this context."""
    if rt.offers is None:
        raise RuntimeError("the voicemail context needs the page offers")
    service = VoicemailService(rt.sessions, rt.queue, node=rt.config.node)
    rt.offers.register_medium(MEDIUM)
    rt.agent_scripts.append("/static/agent-voicemail.js")
    rt.internal_setups.append(http.internal_setup(service))
    rt.pbx_setups.append(functools.partial(attach, service))


def attach(service: VoicemailService, ari: AriClient, router: StasisRouter,
           voice: VoiceService) -> None:
    voice.overflow.recorder.port = service
