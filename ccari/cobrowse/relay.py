"""The live part of a co-browse session: the customer's socket and the agents' mirrors.

Soft state only: the database holds what a session is (state, contact, consent); after a
restart the customer's page reconnects and its recorder starts with a full snapshot, so
nothing here needs rebuilding.  Several nodes: a session's customer socket and its mirrors
may be on different nodes; ``remote`` (:class:`ccari.cobrowse.nodes.CobrowseNodes`) carries
what a side sends when the other side is not here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

from ccari.cobrowse.core import Limits, TokenBucket

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 5.0
MAX_WATCHERS = 4


class Remote(Protocol):
    async def to_customer(self, live: Live, message: dict[str, Any]) -> bool:
        """To the customer's socket on another node (True: it was there, last we heard)."""

    async def to_watchers(self, live: Live, text: str, message: dict[str, Any] | None) -> None:
        """To the mirrors on other nodes (``message``: ``text`` parsed, when not events)."""


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
    remote: Remote | None = None
    # The customer's socket is on another node (as that node last said).
    elsewhere: bool = False
    # Other nodes with mirrors of this session (told to the customer's node).
    nodes: set[str] = field(default_factory=set)
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
                "customer": self.here() or self.elsewhere}

    def here(self) -> bool:
        """The customer's socket is on this node."""
        return self.customer is not None and not self.customer.closed

    async def to_customer(self, message: dict[str, Any]) -> bool:
        if not self.here() and self.remote is not None:
            return await self.remote.to_customer(self, message)
        return await self.to_customer_here(message)

    async def to_customer_here(self, message: dict[str, Any]) -> bool:
        ws = self.customer
        if ws is None or ws.closed:
            return False
        try:
            await asyncio.wait_for(ws.send_json(message), SEND_TIMEOUT_S)
            return True
        except (ConnectionError, RuntimeError, TimeoutError):
            log.debug("co-browse %s: customer socket gone", self.id)
            return False

    async def to_watchers(self, text: str, message: dict[str, Any] | None = None) -> None:
        """Relay one message to every mirror, here and on other nodes."""
        await self.to_watchers_here(text)
        if self.nodes and self.remote is not None:
            await self.remote.to_watchers(self, text, message)

    async def to_watchers_here(self, text: str) -> None:
        """To this node's mirrors; a mirror too slow to take a message is dropped."""
        for ws in list(self.watchers):
            try:
                await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT_S)
            except (ConnectionError, RuntimeError, TimeoutError):
                log.info("co-browse %s: dropping a mirror that does not keep up", self.id)
                self.watchers.pop(ws, None)
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")

    async def to_watchers_json(self, message: dict[str, Any]) -> None:
        await self.to_watchers(json.dumps(message), message)

    async def end(self, reason: str) -> list[web.WebSocketResponse]:
        """End of the session: tell both sides; returns their sockets, which the caller
        closes (in the background: a close waits for the other side's answer).  This node's
        sockets only: the other nodes are told the end by the service."""
        await self.to_customer_here({"type": "ended", "reason": reason})
        await self.to_watchers_here(json.dumps({"type": "ended", "reason": reason}))
        sockets = [ws for ws in (self.customer, *self.watchers) if ws is not None and not ws.closed]
        self.customer = None
        self.watchers.clear()
        return sockets


async def close_socket(ws: web.WebSocketResponse, code: int, reason: str, within: float = 2.0) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:100]), within)
    except (TimeoutError, ConnectionError, RuntimeError):
        log.debug("co-browse socket closed without the peer's answer")
