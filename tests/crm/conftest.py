"""The demo tenants in a ccari without Asterisk, and a client of its internal app."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app
from ccari.config import Config, CrmConfig


@pytest.fixture
def cfg(cfg: Config) -> Config:
    """Imports up to 64 KiB here (a larger one is quick to send)."""
    return replace(cfg, crm=CrmConfig(import_max_bytes=64 * 1024))


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(internal_app(rt))
