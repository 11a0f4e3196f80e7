"""The customers' open chat websockets, by customer session (one session may have several
tabs or a reloading page)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)
Key = tuple[int, str]  # (tenant id, customer session id)


class CustomerSockets:
    def __init__(self) -> None:
        self._sockets: dict[Key, set[web.WebSocketResponse]] = defaultdict(set)
        # Several nodes: what is not a saved message goes to the session's sockets on the
        # other nodes too (saved messages go by ccari.chat.relay).
        self.remote: Callable[[Key, dict[str, Any]], Awaitable[None]] | None = None

    def add(self, key: Key, ws: web.WebSocketResponse) -> None:
        self._sockets[key].add(ws)

    def remove(self, key: Key, ws: web.WebSocketResponse) -> bool:
        """Forget ``ws``; True when it was the session's last socket."""
        sockets = self._sockets.get(key)
        if sockets is None:
            return False
        sockets.discard(ws)
        if sockets:
            return False
        del self._sockets[key]
        return True

    def present(self, key: Key) -> bool:
        return bool(self._sockets.get(key))

    async def send(self, key: Key, message: dict[str, Any]) -> None:
        await self.send_here(key, message)
        if self.remote is not None and message.get("type") != "message":
            await self.remote(key, message)

    async def send_here(self, key: Key, message: dict[str, Any]) -> None:
        """To the session's sockets on this node only."""
        for ws in list(self._sockets.get(key, ())):
            try:
                await ws.send_json(message)
            except (ConnectionError, RuntimeError):
                log.debug("dropping a closed customer websocket")
                self.remove(key, ws)

    async def close(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self._sockets.clear()
