"""Drive the agent web page over HTTP, the way the browser does (login form + websocket)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class AgentPage:
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    hello: dict[str, Any] | None = None  # what the page was told first (state, reason)

    async def presence(self, presence: str) -> dict[str, Any]:
        await self.ws.send_json({"type": "presence", "presence": presence})
        while True:
            msg = await self.ws.receive_json(timeout=10)
            if msg.get("type") == "state":
                return msg

    async def resume_calls(self) -> list[dict[str, Any]]:
        """What a reopened page is told of her calls (``calls.resume``): every message up
        to and including the closing ``calls`` list."""
        await self.ws.send_json({"type": "calls.resume"})
        got: list[dict[str, Any]] = []
        while not got or got[-1].get("type") != "calls":
            got.append(await self.ws.receive_json(timeout=10))
        return got

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


async def open_agent_page(base_url: str, tenant: str, username: str, password: str) -> AgentPage:
    http = aiohttp.ClientSession(base_url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        form = await (await http.get("/agent/login")).text()
        match = re.search(r'name="csrf" value="([^"]+)"', form)
        assert match, "no CSRF token in the login form"
        resp = await http.post("/agent/login", allow_redirects=False, data={
            "csrf": match.group(1), "tenant": tenant, "username": username, "password": password})
        assert resp.status == 303, await resp.text()
        ws = await http.ws_connect("/agent/ws")
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello", hello
        return AgentPage(http, ws, hello)
    except BaseException:
        await http.close()
        raise
