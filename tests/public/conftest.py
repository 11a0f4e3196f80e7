"""A seeded runtime without a PBX, and clients on its public and internal apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.config import Config
from ccari.demo.seed import seed
from tests.support.agent_web import AgentPage, open_agent_page


@pytest.fixture
async def demo(cfg: Config, sessions: Any) -> dict[str, Any]:
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    return sec


@pytest.fixture
async def rt(cfg: Config, demo: dict[str, Any]) -> AsyncIterator[Runtime]:
    async with runtime(cfg, with_pbx=False) as rt:
        yield rt


@pytest.fixture
async def public(rt: Runtime, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(public_app(rt))


@pytest.fixture
async def internal(rt: Runtime, aiohttp_client: Any) -> TestClient:
    """The internal app; every agent logs in on a client of its own (see ``agent_client``)."""
    return await aiohttp_client(internal_app(rt))


@pytest.fixture
async def agents(internal: TestClient, demo: dict[str, Any]) -> AsyncIterator[Any]:
    """``await agents("acme", "alice")``: that agent logged in on its own browser-like
    session, page socket open, ready."""
    pages: list[AgentPage] = []

    async def make(tenant: str, user: str, *, ready: bool = True) -> AgentPage:
        page = await open_agent_page(str(internal.make_url("")), tenant, user,
                                     demo[f"{tenant}.{user}.web"])
        pages.append(page)
        if ready:
            state = await page.presence("ready")
            assert state["state"] in ("ready", "reserved")  # reserved: an offer came at once
        return page

    yield make
    for page in pages:
        await page.close()
