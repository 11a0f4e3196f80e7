"""Calls from a customer's web page ("talk now", ``ccari.talk``) join the voice ACD here.

The call reaches Stasis already identified by ccari's relay: tenant, page URL and the topic
the widget offered instead of the IVR.  It becomes a voice contact like a carrier call (a
video call a video contact, for an agent with a video slot) (``meta.origin = "web"``,
``meta.page_url`` for the screen pop, ``meta.chat`` and
``meta.cobrowse`` when the customer was chatting or sharing the page), skips the IVR, waits in the
queue with the same music and announcements and is offered to a skilled agent.

Audio only: the customer's page may switch a video call to audio only; ccari's relay sees
the re-INVITE that drops the video and :meth:`WebArrivals.audio_only` saves an ``audio-only``
event in the contact's log (then tells the agent's page).

The page gone: a page closed without hanging up, crashed or cut from the network leaves its
call up in Asterisk (no BYE comes).  ccari's relay sees the page's SIP websocket close, or
stop answering its pings, with the call up; :meth:`WebArrivals.page_lost` hangs the call up
and its contact ends as a dead call, ``caller-page-lost`` (:mod:`ccari.voice.deadcalls`).

Trunk admission: a web call occupies no carrier trunk, so it is not counted against the
tenant's or the pool's trunk limits (the node's overload gate still applies).  Its
``Call.trunk_released`` is set from the start: there is no trunk to give back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ccari.contacts import repo
from ccari.routing import Medium
from ccari.storage.models import Contact, ContactMeta
from ccari.tenants import repo as tenants_repo
from ccari.voice import moves
from ccari.voice.calls import Call, QueueSettings
from ccari.voice.causes import CALLER_PAGE_LOST, Q850
from ccari.voice.hold import safe

if TYPE_CHECKING:
    from ccari.agents.notifier import Pages
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
WEB_CALLER = "Web visitor"


class WebArrivals:
    def __init__(self, voice: VoiceService, hub: Pages) -> None:
        self._voice = voice
        self._hub = hub

    async def arrived(self, channel_id: str, tenant_id: int, *, page_url: str,
                      topic: str | None, chat_id: str | None = None,
                      cobrowse_id: str | None = None, medium: Medium = Medium.VOICE,
                      identity: str | None = None) -> None:
        """``chat_id``, ``cobrowse_id``: the customer's chat and co-browsing on that page;
        ``medium``: voice, or video (offered only to agents with a video slot);
        ``identity``: the page's anonymous SIP identity (what the relay knows it by)."""
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
                    trunk_released=True, web_identity=identity)
        voice.calls.add(call)
        log.info("contact %s: web %s call %s from %s", contact.id, medium, channel_id, page_url)
        async with call.lock:
            await voice.answer_and_enqueue(call, {"skill": topic} if topic else {})

    async def audio_only(self, tenant_id: int, identity: str) -> bool:
        """The customer's page switched its video call to audio only: an ``audio-only`` event
        in the contact's log (once), then the agent's page is told.  False when no such
        video call of the tenant is going on here (it ended meanwhile)."""
        voice = self._voice
        call = self._call(tenant_id, identity)
        if call is None or call.medium is not Medium.VIDEO:
            return False
        async with call.lock:
            if call.audio_only:
                return True
            async with voice.sessions() as s:
                contact = await repo.get(s, call.contact_id, tenant_id)
                if contact is None:
                    return False
                await repo.log(s, contact, "audio-only", voice.now(), by="customer")
                await s.commit()
            call.audio_only = True
            agent_id = call.agent_id
        log.info("contact %s: the customer went audio only", call.contact_id)
        if agent_id is not None:
            await self._hub.send(agent_id, {"type": "audio-only", "contact_id": call.contact_id})
        return True

    async def page_lost(self, tenant_id: int, identity: str) -> bool:
        """The customer's page went away with its call up (its websocket closed or stopped
        answering): the call is hung up, its contact ends ``caller-page-lost``.  False when no
        such call of the tenant is going on here (it ended meanwhile)."""
        call = self._call(tenant_id, identity)
        if call is None:
            return False
        log.warning("contact %s: the customer's page is gone, hanging up", call.contact_id)
        self._voice.dead_calls.page_lost(call.channel_id)
        return await safe(self._voice.ari.hangup(call.channel_id,
                                                 reason_code=Q850[CALLER_PAGE_LOST][0]))

    def _call(self, tenant_id: int, identity: str) -> Call | None:
        """The call of the page known by this anonymous identity."""
        return next((c for c in self._voice.calls.all() if c.web_identity == identity
                     and c.tenant_id == tenant_id), None)
