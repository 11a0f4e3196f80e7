"""An application of ccari's on a real loopback port: for clients a test client cannot be
(Chromium, a websocket client of its own, a second process)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tests.support.openapi import Conformances
from tests.support.sipp import free_tcp_port


@contextlib.asynccontextmanager
async def listening(app: web.Application,
                    conformance: Conformances | None = None) -> AsyncIterator[str]:
    """``app`` served on a free port of 127.0.0.1: its base URL (``http://127.0.0.1:N``).
    ``conformance``: every answer also held to its OpenAPI document."""
    if conformance is not None:
        conformance.watch(app)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
