"""The callbacks context's service on a seeded demo (its callback settings included), with
its public and internal apps."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app, public_app, runtime
from ccari.callbacks.demo import seed_callbacks
from ccari.demo.seed import seed
from ccari.tenants import repo as tenants_repo


@pytest.fixture
async def rt(cfg, sessions):
    cfg = replace(cfg, callbacks=replace(cfg.callbacks, ip_burst=8))
    async with sessions() as s:
        sec = await seed(s, cfg)
        await seed_callbacks(s)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        async with rt.sessions() as s:
            rt.tenant_ids = {t: (await tenants_repo.by_slug(s, t)).id  # type: ignore[attr-defined]
                             for t in ("acme", "globex")}
        yield rt


@pytest.fixture
async def public(rt, aiohttp_client) -> TestClient:
    return await aiohttp_client(public_app(rt))


@pytest.fixture
async def internal(rt, aiohttp_client) -> TestClient:
    return await aiohttp_client(internal_app(rt))
