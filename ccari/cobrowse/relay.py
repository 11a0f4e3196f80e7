"""The live part of a co-browse session: the customer's socket and the agents' mirrors.

Soft state only: the database holds what a session is (state, contact, consent); after a
restart the customer's page reconnects and its recorder starts with a full snapshot, so
nothing here needs rebuilding.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from ccari.cobrowse.core import Limits, TokenBucket

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 5.0
MAX_WATCHERS = 4


@dataclass
class Live:
    id: str
    tenant_id: int
    limits: Limits
    origins: frozenset[str] = frozenset()
    contact_id: str | None = None
    consent: bool = False
    page: dict[str, Any] | None = None
    customer: web.WebSocketResponse | None = None
    watchers: dict[web.WebSocketResponse, int] = field(default_factory=dict)
    in_bytes: TokenBucket = field(init=False)
    in_messages: TokenBucket = field(init=False)
    from_agents: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        lim = self.limits
        self.in_bytes = TokenBucket(lim.bytes_per_s, lim.bytes_burst)
        self.in_messages = TokenBucket(lim.messages_per_s, lim.messages_burst)
        self.from_agents = TokenBucket(lim.agent_messages_per_s, lim.agent_messages_burst)

    def status(self) -> dict[str, Any]:
        return {"type": "status", "consent": self.consent, "page": self.page,
                "customer": self.customer is not None and not self.customer.closed}

    async def to_customer(self, message: dict[str, Any]) -> bool:
        ws = self.customer
        if ws is None or ws.closed:
            return False
        try:
            await asyncio.wait_for(ws.send_json(message), SEND_TIMEOUT_S)
            return True
        except (ConnectionError, RuntimeError, TimeoutError):
            log.debug("co-browse %s: customer socket gone", self.id)
            return False

    async def to_watchers(self, text: str) -> None:
        """Relay one message to every mirror; a mirror too slow to take it is dropped."""
        for ws in list(self.watchers):
            try:
                await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT_S)
            except (ConnectionError, RuntimeError, TimeoutError):
                log.info("co-browse %s: dropping a mirror that does not keep up", self.id)
                self.watchers.pop(ws, None)
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")

    async def to_watchers_json(self, message: dict[str, Any]) -> None:
        await self.to_watchers(json.dumps(message))

    async def end(self, reason: str) -> list[web.WebSocketResponse]:
        """End of the session: tell both sides; returns their sockets, which the caller
        closes (in the background: a close waits for the other side's answer)."""
        await self.to_customer({"type": "ended", "reason": reason})
        await self.to_watchers_json({"type": "ended", "reason": reason})
        sockets = [ws for ws in (self.customer, *self.watchers) if ws is not None and not ws.closed]
        self.customer = None
        self.watchers.clear()
        return sockets


async def close_socket(ws: web.WebSocketResponse, code: int, reason: str, within: float = 2.0) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:100]), within)
    except (TimeoutError, ConnectionError, RuntimeError):
        log.debug("co-browse socket closed without the peer's answer")
