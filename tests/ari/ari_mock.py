"""A mock ARI on aiohttp's test server: scripted REST replies and a controllable websocket.

``ws_modes`` scripts successive websocket attempts: ``accept`` (answer pings, send what the
test pushes), ``refuse`` (HTTP 503), ``silent`` (accept, then never read: no PONG, like a
half-open TCP peer), ``lost`` and ``mute`` (accept, but Asterisk lost the app: a user event
for it is refused with 404, or accepted and never delivered).  Attempts beyond the script
are accepted.  Unless a test scripts these routes, a user event posted to
``/events/user/{name}`` goes to the newest websocket and leaving an event source
(``DELETE .../subscription``) succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

Reply = tuple[int, Any] | Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw_path: str = ""


@dataclass
class MockAri:
    username: str = "ccari"
    password: str = "s3cret"
    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    ws_modes: list[str] = field(default_factory=list)
    greeting: list[dict[str, Any]] = field(default_factory=list)  # sent on every accept
    requests: list[Recorded] = field(default_factory=list)
    attempts: int = 0
    ws_queries: list[dict[str, str]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_modes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = asyncio.Condition()
        self.shutdown = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/ari/events", self._events)
        self.app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self.app.on_shutdown.append(self._on_shutdown)

    def _authorised(self, request: web.Request) -> bool:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    async def _bump(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        self.ws_queries.append(dict(request.query))
        mode = self.ws_modes[self.attempts - 1] if self.attempts <= len(self.ws_modes) else "accept"
        await self._bump()
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        if mode == "refuse":
            return web.json_response({"message": "Service Unavailable"}, status=503)
        ws = web.WebSocketResponse(autoping=mode != "silent")
        await ws.prepare(request)
        self.sockets.append(ws)
        self.socket_modes.append(mode)
        for message in self.greeting:
            await ws.send_str(json.dumps(message))
        await self._bump()
        if mode == "silent":
            await self.shutdown.wait()
            return ws
        async for _ in ws:
            pass
        return ws

    @property
    def live(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if not ws.closed]

    async def send(self, message: dict[str, Any]) -> None:
        await self.live[-1].send_str(json.dumps(message))

    async def drop(self) -> None:
        for ws in self.live:
            await ws.close(code=WSCloseCode.GOING_AWAY)

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.shutdown.set()
        for ws in self.live:
            await ws.close(code=WSCloseCode.GOING_AWAY)

    def _newest_mode(self) -> str:
        return self.socket_modes[-1] if self.socket_modes else "accept"

    async def _user_event(self, request: web.Request, name: str) -> web.StreamResponse:
        """Asterisk's user event: sent to the app's (newest) websocket, as the client's
        delivery check expects."""
        mode = self._newest_mode()
        if mode == "lost":
            return web.json_response({"message": "Application not found"}, status=404)
        if self.live and mode != "mute":
            await self.send({"type": "ChannelUserevent", "eventname": name,
                             "application": request.query.get("application", ""),
                             "userevent": {}})
        return web.Response(status=204)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/ari")
        body = await request.json() if request.can_read_body else None
        self.requests.append(Recorded(request.method, path, dict(request.query), body, request.raw_path))
        await self._bump()
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        reply = self.routes.get((request.method, path))
        if reply is None and request.method == "POST" and path.startswith("/events/user/"):
            return await self._user_event(request, path.removeprefix("/events/user/"))
        if reply is None and request.method == "DELETE" and path.endswith("/subscription"):
            if self._newest_mode() == "lost":
                return web.json_response({"message": "Application not found"}, status=404)
            return web.json_response({"name": path.split("/")[2]}, status=200)
        if reply is None:
            return web.json_response({"message": "Resource not found"}, status=404)
        if callable(reply):
            return await reply(request)
        status, payload = reply
        if payload is None:
            return web.Response(status=status)
        return web.json_response(payload, status=status)
