from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from ccari.ari import AriClient, ReconnectPolicy
from tests.ari.ari_mock import MockAri
from tests.ari.ari_samples import APP
from tests.ari.loop_guard import no_asyncio_errors  # noqa: F401 - autouse fixture

FAST = ReconnectPolicy(initial=0.02, maximum=0.1, stable_after=5.0)


@pytest.fixture
def mock_ari() -> MockAri:
    return MockAri()


@pytest.fixture
async def ari_url(aiohttp_server: Any, mock_ari: MockAri) -> str:
    server = await aiohttp_server(mock_ari.app)
    return str(server.make_url(""))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def make_client(
    session: aiohttp.ClientSession, ari_url: str, mock_ari: MockAri
) -> AsyncIterator[Callable[..., AriClient]]:
    clients: list[AriClient] = []

    def make(**kwargs: Any) -> AriClient:
        options: dict[str, Any] = {
            "request_timeout": 1.0,
            "connect_timeout": 2.0,
            "heartbeat": 5.0,
            "reconnect": FAST,
        }
        options.update(kwargs)
        url = options.pop("base_url", ari_url)
        client = AriClient(
            session,
            url,
            mock_ari.username,
            options.pop("password", mock_ari.password),
            APP,
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("ari:")]
    assert not leftover, f"tasks left running: {leftover}"
