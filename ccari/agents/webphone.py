"""The agent page as the agent's phone: its per-login SIP password and its SIP websocket.

The page's SIP-over-WebSocket library (JsSIP, vendored in ``web/static/vendor/jssip``)
connects to ccari's ``/agent/phone/ws`` on the page's own origin; :class:`WebPhones`
relays each frame to Asterisk's websocket transport (:mod:`ccari.web.sip_relay`), which
stays on loopback.  So the SIP signalling is as secure as the
page (wss behind whatever serves ccari over TLS), only a logged-in browser agent reaches
Asterisk's websocket, and the page's Content-Security-Policy stays ``connect-src 'self'``.
The relay lets the page use only its agent's own SIP identity (``devices.foreign_identity``).
Media (DTLS-SRTP, ICE) flows between the browser and Asterisk's RTP ports directly.

**Losing the page mid-call.**  A page closed, reloaded or crashed during a call takes its
phone with it: the call's media dies with the page and cannot be picked up again.  The page
sends no BYE then (its ``pagehide`` handler leaves a call up to this), and the relay sees its
socket close with the call still up, or, its network gone, stop answering the relay's pings
within ``pbx.dead_call_s`` (:mod:`ccari.web.sip_relay`).  At once the agent is made
not ready (no next call until she is back and says ready), then her leg in Asterisk is hung
up and the call ends as her own hang-up ends it (:mod:`ccari.voice.endings`: the caller's
leg and the bridge go, wrap-up follows), with the disposition ``agent-page-lost``.  The
caller is not queued again: an agent's end of a call ends it everywhere in ccari.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents import repo as agents_repo
from ccari.agents.devices import BROWSER, foreign_identity, new_sip_password
from ccari.config import PbxConfig
from ccari.storage.models import Agent
from ccari.web.sip_relay import Check, Frame, SipRelay, silence_for

log = logging.getLogger(__name__)
MAX_FRAME = 64 * 1024
PAGE_LOST = "agent-page-lost"  # the disposition of a call whose agent page went away


class WebPhones:
    """``sync`` (set once the PBX exists) renders the database into Asterisk and reloads."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], pbx: PbxConfig,
                 http: aiohttp.ClientSession) -> None:
        self._sessions = sessions
        self._relay = SipRelay(f"ws://{pbx.host}:{pbx.ari_port}/ws", http, max_frame=MAX_FRAME,
                               silent_s=silence_for(pbx.dead_call_s))
        self.sync: Callable[[], Awaitable[str]] | None = None
        # Set with the PBX: make the agent not ready / end her calls as her hang-up would.
        self.not_ready: Callable[[Agent], Awaitable[object]] | None = None
        self.end_calls: Callable[[int, str], Awaitable[list[str]]] | None = None

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
        async def lost(calls: frozenset[str]) -> None:
            await self.page_lost(agent)

        return await self._relay.serve(request, f"agent {agent.id}: browser phone",
                                       _own_identity(agent), lost)

    async def page_lost(self, agent: Agent) -> None:
        """Her page went away with a call up: not ready first (no offer slips in), then her
        calls end (``agent-page-lost``)."""
        async with self._sessions() as s:
            fresh = await agents_repo.get(s, agent.tenant_id, agent.id)
        if fresh is not None and self.not_ready is not None:
            await self.not_ready(fresh)
        ended = await self.end_calls(agent.id, PAGE_LOST) if self.end_calls is not None else []
        log.warning("agent %s: her page was lost mid-call: not ready, contacts %s ended",
                    agent.id, ", ".join(ended) or "none")

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
