"""A page's SIP websocket relayed to Asterisk's loopback websocket transport, frame by frame.

The agent's browser phone and the customer's "talk now" both speak SIP over a websocket
(JsSIP) to ccari's own listener, never to Asterisk: ``ws://<pbx.host>:<ari_port>/ws``
(subprotocol ``sip``) stays on loopback, the page's Content-Security-Policy stays
``connect-src 'self'``, and every frame the page sends passes its context's check first.
Frames from Asterisk go to the page as they are, and keep-alives (:data:`KEEPALIVES`) both
ways.  Media (DTLS-SRTP, ICE) flows between the browser and Asterisk's RTP ports directly.

The relay follows which calls are up on each socket (:mod:`ccari.web.sip_dialogs`): when a
page's socket closes with calls still up (the page closed, reloaded or crashed mid-call), its
``lost`` callback is told their Call-IDs; not when ccari itself closes the sockets (shutdown:
the calls go on in Asterisk and are reconciled at the next start).

The socket is the page's line: the relay pings it four times per ``silent_s`` and a page
that sends nothing (no pong, no frame) for ``silent_s`` is lost too, its socket closed: its
network is gone and no close will ever arrive (:func:`silence_for`, the dead-call time).
This is how a page's dead call is found: Asterisk's RTP timeout is not set on the WebRTC
endpoints, where it misfires on bundled video (``asterisk/ccari-pjsip.conf.j2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web

from ccari.web.sip_dialogs import Calls

log = logging.getLogger(__name__)
SUBPROTOCOL = "sip"
CONNECT_TIMEOUT_S = 5.0
#: How long a page may stay silent when no dead-call time is set.
SILENT_S = 30.0
_PINGS = 4  # pings per silent time: a pong or two may be late


def silence_for(dead_call_s: int) -> float:
    """How long a page may stay silent before it is lost: ``pbx.dead_call_s``, as long as
    Asterisk gives a carrier with no RTP (0: no dead-call time, :data:`SILENT_S`)."""
    return float(dead_call_s) if dead_call_s else SILENT_S


@dataclass(frozen=True)
class Frame:
    """What to do with one frame the page sent."""

    forward: str | None = None  # to Asterisk
    reply: str | None = None  # back to the page (a SIP refusal)
    stop: bool = False  # close the relay after this frame


#: RFC 5626 keep-alives on the connection, not SIP messages: Asterisk pings every connection
#: transport with a double CRLF (pjsip's ``keep_alive_interval``, 90 s by default) and JsSIP
#: answers with a single one. They pass both ways as they are, unchecked: a context's check
#: would take the pong for a request from nobody and close the page's phone mid-call.
KEEPALIVES = frozenset({"\r\n\r\n", "\r\n"})

#: The context's check of each frame the page sends (SIP text in, what to do out).
Check = Callable[[str], Frame]
#: Told the Call-IDs still up when a page's socket closed under them.
Lost = Callable[[frozenset[str]], Awaitable[None]]


class SipRelay:
    def __init__(self, url: str, http: aiohttp.ClientSession, *, max_frame: int,
                 silent_s: float = SILENT_S) -> None:
        self._url = url
        self._http = http
        self._max_frame = max_frame
        self._silent_s = silent_s
        self._sockets: dict[web.WebSocketResponse, int | None] = {}  # -> its tenant
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()  # telling the owner of a lost page

    async def serve(self, request: web.Request, who: str, check: Check,
                    lost: Lost | None = None, *,
                    tenant_id: int | None = None) -> web.WebSocketResponse:
        """Relay one page's SIP websocket (already authorised) until either side closes or
        ``check`` stops it; ``who`` names the page in the logs; ``lost`` is told the calls
        that were still up on it when it closed (not at shutdown); ``tenant_id``: its tenant
        (:meth:`close_tenant`)."""
        # Pings and pongs are the relay's own (_pump): it knows when the page was last heard.
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), autoping=False,
                                   max_msg_size=self._max_frame)
        await ws.prepare(request)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                upstream = await self._http.ws_connect(
                    self._url, protocols=(SUBPROTOCOL,), max_msg_size=64 * 1024)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("%s: Asterisk's SIP websocket unreachable: %s", who, exc)
            await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER, message=b"PBX unreachable")
            return ws
        self._sockets[ws] = tenant_id
        log.info("%s: SIP websocket connected", who)
        calls = Calls()
        try:
            await _pump(ws, upstream, check, calls, self._silent_s, who)
        finally:
            self._sockets.pop(ws, None)
            if calls.up and lost is not None and not self._closing:
                self._tell_lost(who, lost, calls.up)  # even if this handler is cancelled
            await upstream.close()
            await ws.close()
            log.info("%s: SIP websocket disconnected", who)
        return ws

    def _tell_lost(self, who: str, lost: Lost, calls: frozenset[str]) -> None:
        log.warning("%s: the page went away with %d call(s) up", who, len(calls))

        async def tell() -> None:
            try:
                await lost(calls)
            except Exception:
                log.exception("%s: ending the calls of a lost page failed", who)

        task = asyncio.create_task(tell(), name=f"sip-relay:lost:{who}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closing = True
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def sessions_of(self, tenant_id: int) -> int:
        return sum(1 for t in self._sockets.values() if t == tenant_id)

    async def close_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: its pages' websockets are closed (their relays end)."""
        for ws, t in list(self._sockets.items()):
            if t == tenant_id:
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"tenant deleted")


def _text(msg: aiohttp.WSMessage) -> str | None:
    if msg.type == WSMsgType.TEXT:
        return str(msg.data)
    if msg.type == WSMsgType.BINARY:  # SIP over websocket may use binary frames
        return bytes(msg.data).decode("utf-8", "replace")
    return None


async def _pump(page: web.WebSocketResponse, pbx: aiohttp.ClientWebSocketResponse,
                check: Check, calls: Calls, silent_s: float, who: str) -> None:
    loop = asyncio.get_running_loop()
    heard = loop.time()

    async def up() -> None:
        nonlocal heard
        async for msg in page:
            heard = loop.time()
            if msg.type == WSMsgType.PING:
                await page.pong(msg.data)
            text = _text(msg)
            if text is None:
                continue
            if text in KEEPALIVES:
                await pbx.send_str(text)
                continue
            frame = check(text)
            if frame.forward is not None:
                calls.seen(frame.forward)
                await pbx.send_str(frame.forward)
            if frame.reply is not None:
                await page.send_str(frame.reply)
            if frame.stop:
                return

    async def down(send: Callable[[str], Awaitable[None]]) -> None:
        async for msg in pbx:
            text = _text(msg)
            if text is not None:
                calls.seen(text)  # a keep-alive changes no call
                await send(text)

    async def watch() -> None:
        """Ends the relay once the page has been silent for ``silent_s``."""
        while (quiet := loop.time() - heard) < silent_s:
            await asyncio.sleep(min(silent_s / _PINGS, silent_s - quiet))
            if loop.time() - heard >= silent_s / _PINGS:
                with contextlib.suppress(ConnectionError):
                    await page.ping()
        log.warning("%s: the page has been silent for %.0f s: lost", who, silent_s)

    tasks = [asyncio.create_task(up(), name="sip-relay:up"),
             asyncio.create_task(down(page.send_str), name="sip-relay:down"),
             asyncio.create_task(watch(), name="sip-relay:watch")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
