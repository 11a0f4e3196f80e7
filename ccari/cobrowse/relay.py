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
# Messages a mirror may be behind (each its own writer): past that it is too slow and is
# dropped; the others, the customer and the node's bus never wait for it.
MIRROR_BACKLOG = 256


class Mirror:
    """One agent's mirror socket and the writer that feeds it, in order."""

    def __init__(self, ws: web.WebSocketResponse, agent_id: int, session_id: str) -> None:
        self.ws, self.agent_id, self._session = ws, agent_id, session_id
        self._outbox: asyncio.Queue[str] = asyncio.Queue(MIRROR_BACKLOG)
        self._writer = asyncio.get_running_loop().create_task(
            self._write(), name=f"cobrowse-mirror-{session_id}")
        self.slow = False

    def post(self, text: str) -> bool:
        """Queue ``text`` for the mirror; False: it is too far behind (or gone)."""
        if self.slow or self.ws.closed:
            return False
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.slow = True
            return False
        return True

    async def _write(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await asyncio.wait_for(self.ws.send_str(text), SEND_TIMEOUT_S)
            except (ConnectionError, RuntimeError, TimeoutError):
                self.slow = True
                return
            finally:
                self._outbox.task_done()

    async def flush(self, within: float = SEND_TIMEOUT_S) -> None:
        """Wait until what was posted is sent (at most ``within``), then stop the writer."""
        if not self.slow and not self._writer.done():
            try:
                await asyncio.wait_for(self._outbox.join(), within)
            except TimeoutError:
                log.debug("co-browse %s: a mirror did not take its last messages", self._session)
        self.stop()

    def stop(self) -> None:
        self._writer.cancel()


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
    # When the customer's socket here opened (wall clock, compared across nodes: of two tabs
    # open at once on two nodes, the newer shares).
    customer_since: float = 0.0
    watchers: dict[web.WebSocketResponse, Mirror] = field(default_factory=dict)
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

    def add_watcher(self, ws: web.WebSocketResponse, agent_id: int) -> None:
        self.watchers[ws] = Mirror(ws, agent_id, self.id)

    def remove_watcher(self, ws: web.WebSocketResponse) -> None:
        mirror = self.watchers.pop(ws, None)
        if mirror is not None:
            mirror.stop()

    async def to_watchers_here(self, text: str) -> None:
        """To this node's mirrors, each through its own writer: a mirror too far behind is
        dropped (closed: its page opens it again and starts from a full snapshot)."""
        for ws, mirror in list(self.watchers.items()):
            if not mirror.post(text):
                log.info("co-browse %s: dropping a mirror that does not keep up", self.id)
                self.remove_watcher(ws)
                asyncio.get_running_loop().create_task(
                    close_socket(ws, WSCloseCode.TRY_AGAIN_LATER, "too slow"),
                    name=f"cobrowse-drop-{self.id}")

    async def to_watchers_json(self, message: dict[str, Any]) -> None:
        await self.to_watchers(json.dumps(message), message)

    async def end(self, reason: str) -> list[web.WebSocketResponse]:
        """End of the session: tell both sides; returns their sockets, which the caller
        closes (in the background: a close waits for the other side's answer).  This node's
        sockets only: the other nodes are told the end by the service."""
        await self.to_customer_here({"type": "ended", "reason": reason})
        await self.to_watchers_here(json.dumps({"type": "ended", "reason": reason}))
        mirrors = list(self.watchers.values())
        self.watchers.clear()
        await asyncio.gather(*(m.flush() for m in mirrors))
        sockets = [ws for ws in (self.customer, *(m.ws for m in mirrors))
                   if ws is not None and not ws.closed]
        self.customer = None
        return sockets


async def close_socket(ws: web.WebSocketResponse, code: int, reason: str, within: float = 2.0) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:100]), within)
    except (TimeoutError, ConnectionError, RuntimeError):
        log.debug("co-browse socket closed without the peer's answer")
