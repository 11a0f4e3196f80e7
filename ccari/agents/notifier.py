"""Pushes live updates to each agent's open pages (one agent may have several tabs)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)


class AgentHub:
    def __init__(self) -> None:
        self._sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, agent_id: int, ws: web.WebSocketResponse) -> None:
        self._sockets[agent_id].add(ws)

    def remove(self, agent_id: int, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(agent_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[agent_id]

    def agent_ids(self) -> list[int]:
        return list(self._sockets)

    def connected(self, agent_id: int) -> bool:
        return bool(self._sockets.get(agent_id))

    async def send(self, agent_id: int, message: dict[str, Any]) -> None:
        for ws in list(self._sockets.get(agent_id, ())):
            try:
                await ws.send_json(message)
            except (ConnectionError, RuntimeError):
                log.debug("dropping closed websocket of agent %s", agent_id)
                self.remove(agent_id, ws)

    async def close(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self._sockets.clear()
