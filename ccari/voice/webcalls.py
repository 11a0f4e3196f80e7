"""Calls from a customer's web page ("talk now", ``ccari.talk``) join the voice ACD here.

The call reaches Stasis already identified by ccari's relay: tenant, page URL and the topic
the widget offered instead of the IVR.  It becomes a voice contact like a carrier call (a
video call a video contact, for an agent with a video slot) (``meta.origin = "web"``,
``meta.page_url`` for the screen pop, ``meta.chat`` and
``meta.cobrowse`` when the customer was chatting or sharing the page), skips the IVR, waits in the
queue with the same music and announcements and is offered to a skilled agent.

Trunk admission: a web call occupies no carrier trunk, so it is not counted against the
tenant's or the pool's trunk limits (the node's overload gate still applies).  Its
``Call.trunk_released`` is set from the start: there is no trunk to give back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ccari.routing import Medium
from ccari.storage.models import Contact, ContactMeta
from ccari.tenants import repo as tenants_repo
from ccari.voice import moves
from ccari.voice.calls import Call, QueueSettings

if TYPE_CHECKING:
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
WEB_CALLER = "Web visitor"


class WebArrivals:
    def __init__(self, voice: VoiceService) -> None:
        self._voice = voice

    async def arrived(self, channel_id: str, tenant_id: int, *, page_url: str,
                      topic: str | None, chat_id: str | None = None,
                      cobrowse_id: str | None = None, medium: Medium = Medium.VOICE) -> None:
        """``chat_id``, ``cobrowse_id``: the customer's chat and co-browsing on that page;
        ``medium``: voice, or video (offered only to agents with a video slot)."""
        voice = self._voice
        if not voice.load.admit():
            log.info("web call %s refused: overload", channel_id)
            await voice.hangup(channel_id)
            return
        async with voice.sessions() as s:
            queue = await tenants_repo.queue(s, tenant_id, None)
        meta: ContactMeta = {"origin": "web", "page_url": page_url}
        if chat_id:
            meta["chat"] = chat_id
        if cobrowse_id:
            meta["cobrowse"] = cobrowse_id

        def arrive(s: Session) -> Contact:
            return moves.arrived(s, tenant_id=tenant_id, caller=None, medium=medium,
                                 caller_name=WEB_CALLER,
                                 node=voice.node, channel_id=channel_id, number_id=None,
                                 queue_id=queue.id if queue else None, arrived_at=voice.now(),
                                 meta=meta)

        contact = await voice.writes.run(arrive)
        call = Call(contact.id, tenant_id, channel_id, QueueSettings.of(queue, voice.config), medium,
                    trunk_released=True)
        voice.calls.add(call)
        log.info("contact %s: web %s call %s from %s", contact.id, medium, channel_id, page_url)
        async with call.lock:
            await voice.answer_and_enqueue(call, {"skill": topic} if topic else {})
