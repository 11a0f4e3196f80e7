"""The demo tenants in a ccari without Asterisk, and a client of its internal app."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app, runtime
from ccari.demo.seed import seed


@pytest.fixture
async def rt(cfg, sessions):
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        yield rt


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:
    return await aiohttp_client(internal_app(rt))
