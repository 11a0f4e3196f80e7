"""A tiny ARI client for the PBX tests: REST calls and the event websocket of one app."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from ccari.pbx import PbxProcess


class AriApp:
    def __init__(self, pbx: PbxProcess, session: aiohttp.ClientSession) -> None:
        self.pbx = pbx
        self.session = session
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        token = f"{pbx.spec.ari_user}:{pbx.spec.ari_password}".encode()
        self.headers = {"Authorization": "Basic " + base64.b64encode(token).decode()}

    async def request(self, method: str, path: str, **params: str) -> Any:
        url = f"{self.pbx.ari_url}/ari{path}"
        async with self.session.request(
            method, url, params=params, headers=self.headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            body = await resp.text()
            assert resp.status < 300, f"{method} {path} -> {resp.status} {body}"
            return json.loads(body) if body else None

    async def next_event(self, type_: str, seconds: float = 15.0) -> dict[str, Any]:
        """The next event of that type (others are skipped)."""
        async with asyncio.timeout(seconds):
            while True:
                event = await self.events.get()
                if event["type"] == type_:
                    return event

    async def collect(self, *types: str, seconds: float = 15.0) -> dict[str, dict[str, Any]]:
        """The first event of each type, in whatever order they arrive (others skipped)."""
        found: dict[str, dict[str, Any]] = {}
        async with asyncio.timeout(seconds):
            while len(found) < len(types):
                event = await self.events.get()
                if event["type"] in types:
                    found.setdefault(event["type"], event)
        return found


@asynccontextmanager
async def ari_app(pbx: PbxProcess) -> AsyncIterator[AriApp]:
    """Register the instance's Stasis app (websocket) for the duration of the block."""
    spec = pbx.spec
    url = (
        f"ws://127.0.0.1:{spec.ports.ari}/ari/events?app={spec.app_name}"
        f"&api_key={spec.ari_user}:{spec.ari_password}"
    )
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            app = AriApp(pbx, session)

            async def pump() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        app.events.put_nowait(json.loads(msg.data))

            task = asyncio.create_task(pump(), name="ari-events")
            try:
                yield app
            finally:
                await ws.close()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
