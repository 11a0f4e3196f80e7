"""Pushes live updates to each agent's open pages (one agent may have several tabs), and
tells its watchers when an agent's first page opens or her last one closes.

:class:`AgentHub` holds this node's page sockets.  What routing tells the pages goes through
:class:`Pages`: this node's hub, or with several nodes every node's pages
(``ccari.cluster.pages``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)


class Pages(Protocol):
    """Agent pages as the router sees them, wherever their sockets are."""

    def connected(self, agent_id: int) -> bool:
        """Whether a page of the agent is open."""

    def agent_ids(self) -> list[int]:
        """The agents with a page open."""

    async def send(self, agent_id: int, message: dict[str, Any]) -> None:
        """To each open page of the agent."""


class AgentHub:
    def __init__(self) -> None:
        self._sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self._watchers: list[Callable[[int], None]] = []

    def watch(self, watcher: Callable[[int], None]) -> None:
        """``watcher(agent_id)`` is called when the agent's first page opens and when her last
        one closes (:meth:`connected` says which); it must not block."""
        self._watchers.append(watcher)

    def _changed(self, agent_id: int) -> None:
        for watcher in self._watchers:
            try:
                watcher(agent_id)
            except Exception:
                log.exception("page watcher failed for agent %s", agent_id)

    def add(self, agent_id: int, ws: web.WebSocketResponse) -> None:
        first = not self._sockets.get(agent_id)
        self._sockets[agent_id].add(ws)
        if first:
            self._changed(agent_id)

    def remove(self, agent_id: int, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(agent_id)
        if sockets is not None and ws in sockets:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[agent_id]
                self._changed(agent_id)

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
