"""Wiring of the voicemail context into the runtime (called once by ccari.app.runtime).

``install`` builds the :class:`VoicemailService`, makes the agent page the deliverer of
medium ``voicemail``, adds the routes and offers the service to the voice ACD as the port
that keeps recorded messages (``rt.voicemail``, handed to ``VoiceService`` when the
composition root builds it), which turns the ``voicemail`` overflow treatment on.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.voicemail import http
from ccari.voicemail.services import MEDIUM, VoicemailService

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, deliverers and the voice ACD's voicemail port of this context."""
    if rt.offers is None:
        raise RuntimeError("the voicemail context needs the page offers")
    service = VoicemailService(rt.sessions, rt.queue, node=rt.config.node)
    rt.offers.register_medium(MEDIUM)
    rt.agent_scripts.append("/static/agent-voicemail.js")
    rt.internal_setups.append(http.internal_setup(service))
    rt.voicemail = service
