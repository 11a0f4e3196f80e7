"""The agent page as the agent's phone: its per-login SIP password and its SIP websocket.

The page's SIP-over-WebSocket library (JsSIP, vendored in ``web/static/vendor/jssip``)
connects to ccari's ``/agent/phone/ws`` on the page's own origin; :class:`WebPhones`
relays each frame to Asterisk's websocket transport (``ws://<pbx.host>:<ari_port>/ws``,
subprotocol ``sip``), which stays on loopback.  So the SIP signalling is as secure as the
page (wss behind whatever serves ccari over TLS), only a logged-in browser agent reaches
Asterisk's websocket, and the page's Content-Security-Policy stays ``connect-src 'self'``.
The relay lets the page use only its agent's own SIP identity (``devices.foreign_identity``).
Media (DTLS-SRTP, ICE) flows between the browser and Asterisk's RTP ports directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.devices import BROWSER, foreign_identity, new_sip_password
from ccari.config import PbxConfig
from ccari.storage.models import Agent

log = logging.getLogger(__name__)
SUBPROTOCOL = "sip"
CONNECT_TIMEOUT_S = 5.0
MAX_FRAME = 64 * 1024


class WebPhones:
    """``sync`` (set once the PBX exists) renders the database into Asterisk and reloads."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], pbx: PbxConfig,
                 http: aiohttp.ClientSession) -> None:
        self._sessions = sessions
        self._url = f"ws://{pbx.host}:{pbx.ari_port}/ws"
        self._http = http
        self._sockets: set[web.WebSocketResponse] = set()
        self.sync: Callable[[], Awaitable[str]] | None = None

    async def new_password(self, agent: Agent) -> str | None:
        """A browser agent's login (or her logout): a new SIP password, saved, then loaded
        into Asterisk, which forgets the old one; what the PBX sync did.  None for a SIP
        phone agent, whose password is the admin's."""
        if agent.device != BROWSER:
            return None
        password = new_sip_password()
        async with self._sessions() as s:
            await s.execute(update(Agent).where(
                Agent.id == agent.id, Agent.tenant_id == agent.tenant_id).values(
                phone_password=password))
            await s.commit()
        agent.phone_password = password
        outcome = await self.sync() if self.sync is not None else "no PBX"
        log.info("agent %s: new browser phone password (%s)", agent.id, outcome)
        return outcome

    async def relay(self, request: web.Request, agent: Agent) -> web.WebSocketResponse:
        """Relay one page's SIP websocket to Asterisk's until either side closes."""
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=20,
                                   max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                upstream = await self._http.ws_connect(
                    self._url, protocols=(SUBPROTOCOL,), max_msg_size=MAX_FRAME)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("agent %s: Asterisk's SIP websocket unreachable: %s", agent.id, exc)
            await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER, message=b"PBX unreachable")
            return ws
        self._sockets.add(ws)
        log.info("agent %s: browser phone connected", agent.id)
        try:
            await _pump(ws, upstream, agent)
        finally:
            self._sockets.discard(ws)
            await upstream.close()
            await ws.close()
            log.info("agent %s: browser phone disconnected", agent.id)
        return ws

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def _pump(page: web.WebSocketResponse, pbx: aiohttp.ClientWebSocketResponse,
                agent: Agent) -> None:
    """Frames both ways until either side closes, or the page claims another identity
    (:func:`foreign_identity`: the relay is closed, the frame never reaches Asterisk)."""

    async def forward(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                      send: Callable[[str], Awaitable[None]], *, check: bool) -> None:
        async for msg in source:
            if msg.type == WSMsgType.TEXT:
                text = msg.data
            elif msg.type == WSMsgType.BINARY:  # SIP over websocket may use binary frames
                text = msg.data.decode("utf-8", "replace")
            else:
                continue
            why = foreign_identity(text, agent.phone_username) if check else None
            if why is not None:
                log.warning("agent %s: browser phone closed: it sent a SIP request with %s",
                            agent.id, why)
                return
            await send(text)

    tasks = [asyncio.create_task(forward(page, pbx.send_str, check=True), name="webphone:up"),
             asyncio.create_task(forward(pbx, page.send_str, check=False),
                                 name="webphone:down")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
