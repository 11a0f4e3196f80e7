"""The demo tenants in a ccari without Asterisk, and a client of its internal app."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app, runtime
from ccari.config import Config, CrmConfig
from ccari.demo.seed import seed


@pytest.fixture
def cfg(cfg: Config) -> Config:
    """Imports up to 64 KiB here (a larger one is quick to send)."""
    return replace(cfg, crm=CrmConfig(import_max_bytes=64 * 1024))


@pytest.fixture
async def rt(cfg, sessions):  # type: ignore[no-untyped-def]
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        yield rt


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(internal_app(rt))
