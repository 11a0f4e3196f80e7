"""A tenant's routing settings (fair blending's hold) over the provisioning API: validated,
audited, kept per tenant, applied to the router at once and again after a restart."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import runtime
from ccari.tenants import repo as tenants_repo
from tests.provisioning.test_http import ADMIN, bearer, error, ok

BASE = "/api/tenants/{}/routing"


async def tenant_id(rt, slug: str) -> str:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        return str((await tenants_repo.by_slug(s, slug)).id)


async def test_a_tenant_sets_its_own_hold_and_a_restart_keeps_it(
        rt, client: TestClient, cfg) -> None:  # type: ignore[no-untyped-def]
    acme, globex = await tenant_id(rt, "acme"), await tenant_id(rt, "globex")
    default = cfg.routing.blend_hold_s
    got = await ok(await client.get(BASE.format("acme"), headers=bearer(rt, "acme")))
    assert got == {"routing": {"blend_hold_s": None, "effective_blend_hold_s": default}}
    put = await ok(await client.put(BASE.format("acme"), json={"blend_hold_s": 12.5},
                                    headers=bearer(rt, "acme")))
    assert put == {"routing": {"blend_hold_s": 12.5, "effective_blend_hold_s": 12.5}}
    rules = rt.queue.router.rules
    assert (rules.hold_for(acme), rules.hold_for(globex)) == (12.5, default)
    await ok(await client.put(BASE.format("globex"), json={"blend_hold_s": 0}, headers=ADMIN))
    assert rt.queue.router.rules.hold_for(globex) == 0  # off for globex only
    log = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=ADMIN)))["audit"]
    assert (log[0]["kind"], log[0]["before"], log[0]["after"]) == (
        "routing", {"blend_hold_s": None}, {"blend_hold_s": 12.5})
    async with runtime(rt.config, with_pbx=False) as again:  # another start reads them
        assert again.queue.router.rules.hold_for(acme) == 12.5
        assert again.queue.router.rules.hold_for(globex) == 0
    await ok(await client.put(BASE.format("acme"), json={"blend_hold_s": None},
                              headers=bearer(rt, "acme")))
    assert rt.queue.router.rules.hold_for(acme) == default


@pytest.mark.parametrize(("body", "error_id"), [
    ({"blend_hold_s": -1}, "invalid-field"),
    ({"blend_hold_s": 86401}, "invalid-field"),
    ({"blend_hold_s": "30"}, "invalid-field"),
    ({"blend_hold_s": True}, "invalid-field"),
    ({}, "invalid-field"),
    ({"blend_hold_s": 5, "hold": 1}, "unknown-field"),
    ([5], "invalid-field"),
])
async def test_bad_settings_are_refused(rt, client: TestClient, body: object,
                                        error_id: str) -> None:  # type: ignore[no-untyped-def]
    await error(await client.put(BASE.format("acme"), json=body, headers=bearer(rt, "acme")),
                422, error_id)
    assert rt.queue.router.rules.tenant_hold_after == {}


async def test_only_the_tenants_own_token_or_the_admin(rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    await error(await client.get(BASE.format("acme")), 401, "token-required")
    await error(await client.put(BASE.format("globex"), json={"blend_hold_s": 1},
                                 headers=bearer(rt, "acme")), 403, "wrong-tenant")
    await error(await client.get(BASE.format("globex"), headers=bearer(rt, "acme")), 403,
                "wrong-tenant")
    assert rt.queue.router.rules.tenant_hold_after == {}
