"""The customer's SIP websocket (``GET /v1/talk/ws?ticket=...``), relayed to Asterisk's
loopback websocket transport frame by frame through :func:`ccari.talk.sip.check`.

Like the agent's browser phone (:mod:`ccari.agents.webphone`), Asterisk's ``/ws`` stays on
loopback and the page speaks only to ccari's public listener; unlike it, the page has no
SIP account: the relay lets one anonymous call through to the tenant's ``talk`` target and
marks it with the customer endpoint's key and the ticket's signed context, which Asterisk's
``from-web`` context hands to Stasis.  Media (DTLS-SRTP, ICE) flows between the browser and
Asterisk's RTP ports directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web

from ccari.talk.sip import Dialog, check

log = logging.getLogger(__name__)
SUBPROTOCOL = "sip"
CONNECT_TIMEOUT_S = 5.0
MAX_FRAME = 16 * 1024
#: Refused requests a page may send before the relay gives up on it.
MAX_REFUSALS = 5


class Relay:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self._url = url
        self._http = http
        self._sockets: set[web.WebSocketResponse] = set()

    async def serve(self, request: web.Request, dialog: Dialog) -> web.WebSocketResponse:
        """Relay one page's SIP websocket (already allowed: ticket and origin) until
        either side closes."""
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=20,
                                   max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                upstream = await self._http.ws_connect(
                    self._url, protocols=(SUBPROTOCOL,), max_msg_size=64 * 1024)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("talk %s: Asterisk's SIP websocket unreachable: %s", dialog.identity, exc)
            await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER, message=b"PBX unreachable")
            return ws
        self._sockets.add(ws)
        log.info("talk %s: customer's page connected", dialog.identity)
        try:
            await _pump(ws, upstream, dialog)
        finally:
            self._sockets.discard(ws)
            await upstream.close()
            await ws.close()
            log.info("talk %s: customer's page disconnected (refused: %s)", dialog.identity,
                     ", ".join(dialog.refused) or "nothing")
        return ws

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def _pump(page: web.WebSocketResponse, pbx: aiohttp.ClientWebSocketResponse,
                dialog: Dialog) -> None:
    async def up() -> None:
        async for msg in page:
            if msg.type == WSMsgType.TEXT:
                text = msg.data
            elif msg.type == WSMsgType.BINARY:
                text = msg.data.decode("utf-8", "replace")
            else:
                continue
            verdict = check(text, dialog)
            if verdict.forward is not None:
                await pbx.send_str(verdict.forward)
            if verdict.reply is not None:
                await page.send_str(verdict.reply)
            if verdict.error is not None:
                log.warning("talk %s: refused a request: %s", dialog.identity, verdict.error)
                if len(dialog.refused) >= MAX_REFUSALS:
                    return

    async def down(send: Callable[[str], Awaitable[None]]) -> None:
        async for msg in pbx:
            if msg.type == WSMsgType.TEXT:
                await send(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await send(msg.data.decode("utf-8", "replace"))

    tasks = [asyncio.create_task(up(), name="talk:up"),
             asyncio.create_task(down(page.send_str), name="talk:down")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
