"""The agent page as the agent's phone: its per-login SIP password and its SIP websocket.

The page's SIP-over-WebSocket library (JsSIP, vendored in ``web/static/vendor/jssip``)
connects to ccari's ``/agent/phone/ws`` on the page's own origin; :class:`WebPhones`
relays each frame to Asterisk's websocket transport (:mod:`ccari.web.sip_relay`), which
stays on loopback.  So the SIP signalling is as secure as the
page (wss behind whatever serves ccari over TLS), only a logged-in browser agent reaches
Asterisk's websocket, and the page's Content-Security-Policy stays ``connect-src 'self'``.
The relay lets the page use only its agent's own SIP identity (``devices.foreign_identity``).
Media (DTLS-SRTP, ICE) flows between the browser and Asterisk's RTP ports directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.devices import BROWSER, foreign_identity, new_sip_password
from ccari.config import PbxConfig
from ccari.storage.models import Agent
from ccari.web.sip_relay import Check, Frame, SipRelay

log = logging.getLogger(__name__)
MAX_FRAME = 64 * 1024


class WebPhones:
    """``sync`` (set once the PBX exists) renders the database into Asterisk and reloads."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], pbx: PbxConfig,
                 http: aiohttp.ClientSession) -> None:
        self._sessions = sessions
        self._relay = SipRelay(f"ws://{pbx.host}:{pbx.ari_port}/ws", http, max_frame=MAX_FRAME)
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
        return await self._relay.serve(request, f"agent {agent.id}: browser phone",
                                       _own_identity(agent))

    async def close(self) -> None:
        await self._relay.close()


def _own_identity(agent: Agent) -> Check:
    """The page may use only its agent's SIP identity (:func:`foreign_identity`): the relay
    is closed at the first frame that claims another, which never reaches Asterisk."""

    def one(text: str) -> Frame:
        why = foreign_identity(text, agent.phone_username)
        if why is None:
            return Frame(forward=text)
        log.warning("agent %s: browser phone closed: it sent a SIP request with %s", agent.id, why)
        return Frame(stop=True)

    return one
