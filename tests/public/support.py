"""Helpers of the public-side and chat tests: a seeded runtime, customer sessions, an agent
logged in over the internal app, websocket waits."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient


async def new_session(public: TestClient, tenant: str = "acme", **extra: Any) -> dict[str, Any]:
    resp = await public.post("/v1/sessions", json={"tenant": tenant,
                                                   "page_url": "http://shop.example/help", **extra})
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def until(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10.0,  # noqa: ASYNC109
                **match: Any) -> dict[str, Any]:
    """The next message of type ``kind`` (with the given fields), skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind} {match} within {timeout}s")
        msg = await ws.receive_json(timeout=left)
        if msg.get("type") == kind and all(msg.get(k) == v for k, v in match.items()):
            return msg


async def customer_ws(public: TestClient, token: str) -> aiohttp.ClientWebSocketResponse:
    return await public.ws_connect(f"/v1/chat/ws?token={token}")




async def collect(ws: aiohttp.ClientWebSocketResponse, *kinds: str,
                  timeout: float = 10.0) -> dict[str, dict[str, Any]]:  # noqa: ASYNC109
    """The first message of each of ``kinds``, in whatever order they come."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(kinds):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"only {sorted(found)} of {kinds} within {timeout}s")
        msg = await ws.receive_json(timeout=left)
        if msg.get("type") in kinds:
            found.setdefault(msg["type"], msg)
    return found
