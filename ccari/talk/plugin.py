"""Wiring of talk now: the ticket endpoint and the SIP relay on the public listener, and
the Stasis side once ARI and the voice ACD exist."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import aiohttp

from ccari.pbx.spec import web_key
from ccari.talk import http, stasis
from ccari.talk.context import Signer, UsedTickets, WebCall
from ccari.talk.relay import MAX_FRAME
from ccari.tasks import TaskSet
from ccari.web.sip_relay import SipRelay, silence_for

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context and its Stasis owner."""
    p = rt.config.pbx
    signer = Signer(rt.config.web.secret_key)
    client = await stack.enter_async_context(aiohttp.ClientSession())
    relay = SipRelay(f"ws://{p.host}:{p.ari_port}/ws", client, max_frame=MAX_FRAME,
                     silent_s=silence_for(p.dead_call_s))
    stack.push_async_callback(relay.close)
    talk = http.Talk(signer, UsedTickets(signer.ticket_s), relay, web_key(p.ari_password))
    rt.internal_setups.append(http.internal_setup())
    rt.public_setups.append(http.public_setup(talk))
    tasks = TaskSet("talk")
    stack.push_async_callback(tasks.close)

    def tenant_gone(tenant_id: int) -> None:  # a deleted tenant's pages lose their relays
        tasks.spawn(relay.close_tenant(tenant_id), f"talk-gone-{tenant_id}")

    rt.tenant_gone.append(tenant_gone)

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        stasis.register(ari, router, voice, signer)

        def audio_only(call: WebCall) -> None:  # saved by the voice side, off the relay's loop
            tasks.spawn(voice.web.audio_only(call.tenant_id, call.identity), "audio-only")

        talk.audio_only = audio_only

        async def page_lost(call: WebCall) -> None:
            await voice.web.page_lost(call.tenant_id, call.identity)

        talk.page_lost = page_lost

    rt.pbx_setups.append(attach)
