"""The SIP websocket relay closes the pages of a deleted tenant (``close_tenant``) and only
those: another tenant's page keeps relaying frames to the PBX side."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from ccari.web.sip_relay import SUBPROTOCOL, Frame, SipRelay
from tests.support.waits import eventually

RELAY: web.AppKey[SipRelay] = web.AppKey("relay", SipRelay)


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Asterisk's websocket transport, played by an echo."""
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def page(request: web.Request) -> web.WebSocketResponse:
    tenant_id = int(request.match_info["tenant"])
    return await request.app[RELAY].serve(request, f"page of {tenant_id}",
                                          lambda text: Frame(forward=text), tenant_id=tenant_id)


async def test_a_deleted_tenants_pages_are_closed_the_others_keep_relaying(
        aiohttp_server: Any) -> None:
    upstream = web.Application()
    upstream.router.add_get("/ws", echo)
    pbx = await aiohttp_server(upstream)
    async with aiohttp.ClientSession() as http:
        relay = SipRelay(f"ws://127.0.0.1:{pbx.port}/ws", http, max_frame=65536)
        app = web.Application()
        app[RELAY] = relay
        app.router.add_get("/talk/{tenant}", page)
        served = await aiohttp_server(app)
        gone = await http.ws_connect(f"http://127.0.0.1:{served.port}/talk/1",
                                     protocols=(SUBPROTOCOL,))
        kept = await http.ws_connect(f"http://127.0.0.1:{served.port}/talk/2",
                                     protocols=(SUBPROTOCOL,))
        for ws in (gone, kept):
            await ws.send_str("OPTIONS sip:x SIP/2.0")
            assert (await ws.receive_str(timeout=5)) == "OPTIONS sip:x SIP/2.0"
        assert (relay.sessions_of(1), relay.sessions_of(2)) == (1, 1)

        await relay.close_tenant(1)
        closed = await gone.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.extra == "tenant deleted"

        async def ended() -> bool:
            return relay.sessions_of(1) == 0
        await eventually(ended, 5, "the deleted tenant's relay to end")
        await kept.send_str("MESSAGE sip:y SIP/2.0")
        assert (await kept.receive_str(timeout=5)) == "MESSAGE sip:y SIP/2.0"
        assert relay.sessions_of(2) == 1
        await kept.close()
        await gone.close()
        await relay.close()
