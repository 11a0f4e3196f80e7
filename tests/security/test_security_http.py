"""The security log's admin API: platform admin only, stable error ids, unblock."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient

from ccari.security.facts import Failure

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


async def error(resp, status: int, error_id: str) -> None:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert (resp.status, body.get("error")) == (status, error_id), body


async def test_blocks_listed_and_lifted_by_the_admin_only(rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    guesser = Failure("ChallengeResponseFailed", "192.0.2.9", "UDP", "<script>acme-alice")
    for _ in range(rt.config.security.max_failures):
        await rt.security.on_failure(guesser)
    await rt.security.on_failure(Failure("InvalidAccountID", "127.0.0.2", "UDP", "x"))  # carrier

    resp = await client.get("/api/security/blocks?active=1", headers=ADMIN)
    [block] = (await resp.json())["blocks"]
    assert block["address"] == "192.0.2.9" and block["active"] and block["offence"] == 1
    assert block["reason"] == "ChallengeResponseFailed (<script>acme-alice)"  # text, in JSON
    assert block["failures"] == rt.config.security.max_failures

    tenant = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    await error(await client.get("/api/security/blocks"), 401, "token-required")
    await error(await client.get("/api/security/blocks", headers=tenant), 403, "admin-only")
    await error(await client.delete("/api/security/blocks/192.0.2.9", headers=tenant), 403,
                "admin-only")
    await error(await client.delete("/api/security/blocks/not-an-ip", headers=ADMIN), 400,
                "invalid-address")
    await error(await client.delete("/api/security/blocks/192.0.2.10", headers=ADMIN), 404,
                "not-blocked")
    await error(await client.get("/api/security/blocks?limit=x", headers=ADMIN), 400,
                "invalid-limit")

    resp = await client.delete("/api/security/blocks/192.0.2.9", headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["lifted"] == 1
    assert rt.security.tracker.blocked(time.time()) == {}
    resp = await client.get("/api/security/blocks?active=1", headers=ADMIN)
    assert (await resp.json())["blocks"] == []
    resp = await client.get("/api/security/blocks", headers=ADMIN)
    [logged] = (await resp.json())["blocks"]
    assert logged["lifted_by"] == "admin" and logged["lifted_at"] and not logged["active"]

    metrics = await (await client.get("/metrics")).text()
    assert "ccari_security_blocks_total 1" in metrics
    assert "ccari_security_blocked 0" in metrics

