"""The sites API on the demo tenants (no Asterisk): capacities set per tenant, loads read
per tenant, bad values refused with their error ids, every change audited."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime
from ccari.sites.services import SiteBandwidth
from ccari.storage.models import Agent
from tests.provisioning.test_pages import login, post

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


def token(rt: Runtime, slug: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.demo_secrets[f'{slug}.token']}"}  # type: ignore[attr-defined]


async def sites_of(client: TestClient, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/api/sites{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return {s["name"]: s for s in body["sites"]}


async def test_a_tenant_sets_its_sites_capacity_and_sees_its_load(rt: Runtime, client: TestClient) -> None:
    acme = token(rt, "acme")
    before = await sites_of(client, acme)
    assert set(before) == {"London", "Leeds"}  # the demo agents' sites; not globex's
    assert before["London"] == {"name": "London", "wan_kbps": None, "load_kbps": 0.0, "calls": 0,
                                "lower_codec_above_kbps": None}
    resp = await client.put("/api/tenants/acme/sites/London", json={"wan_kbps": 130}, headers=acme)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["site"]["lower_codec_above_kbps"] == 104.0
    # A site no agent names yet is created by its capacity.
    resp = await client.put("/api/tenants/acme/sites/Bristol", json={"wan_kbps": 2000}, headers=acme)
    assert resp.status == 200
    # The legs ccari places there show as the site's load.
    assert isinstance(rt.legs, SiteBandwidth)
    london = next(i for i, link in rt.legs._sites.items() if link.name == "London")
    alice = await rt.legs.place(1, 1, london, "sip", "agent-c1-1")
    bob = await rt.legs.place(1, 1, london, "sip", "agent-c2-1")
    assert alice is not None and alice.codec == "ulaw" and alice.formats == ("ulaw", "alaw")
    assert bob is not None and bob.codec == "gsm" and bob.formats == ("gsm",)  # over 104 with G.711
    assert await rt.legs.place(1, 1, london, "sip", "agent-c3-1") is None  # 123.6 + 36.4 > 130
    now = await sites_of(client, acme)
    assert now["London"]["load_kbps"] == 123.6 and now["London"]["calls"] == 2
    assert now["Bristol"]["wan_kbps"] == 2000 and now["Bristol"]["load_kbps"] == 0.0
    await rt.legs.release("agent-c1-1")
    assert (await sites_of(client, acme))["London"]["load_kbps"] == 36.4
    # Unlimited again: its agents are told there is room (the queue's voice gate).
    told: list[set[int | None]] = []

    async def listen(site_ids: set[int | None]) -> None:
        told.append(site_ids)

    rt.legs.room_changed.append(listen)
    for n in (4, 5):  # GSM, GSM: 36.4 x 3 = 109.2, no room for a fourth (145.6 > 130)
        assert (await rt.legs.place(1, 1, london, "sip", f"agent-c{n}-1")) is not None
    assert told == [{london}, {london}]
    assert not rt.legs.has_room(Agent(site_id=london, device="sip"))
    resp = await client.put("/api/tenants/acme/sites/London", json={"wan_kbps": None}, headers=acme)
    assert (await resp.json())["site"]["wan_kbps"] is None
    assert len(told) == 3 and told[-1] == {london}
    assert rt.legs.has_room(Agent(site_id=london, device="sip"))
    for n in (2, 4, 5):  # an unlimited site's legs change no agent's room
        await rt.legs.release(f"agent-c{n}-1")
    assert len(told) == 3
    assert (await sites_of(client, acme))["London"]["load_kbps"] == 0.0
    log = (await (await client.get("/api/tenants/acme/audit", headers=acme)).json())["audit"]
    changes = [(e["kind"], e["key"], e["action"], e["actor"], e["after"]) for e in log[:3]]
    assert changes == [
        ("site", "London", "update", "tenant:acme", {"name": "London", "wan_kbps": None}),
        ("site", "Bristol", "create", "tenant:acme", {"name": "Bristol", "wan_kbps": 2000}),
        ("site", "London", "update", "tenant:acme", {"name": "London", "wan_kbps": 130}),
    ]


async def test_each_token_reaches_its_own_tenants_sites_only(rt: Runtime, client: TestClient) -> None:
    acme, globex = token(rt, "acme"), token(rt, "globex")
    resp = await client.put("/api/tenants/globex/sites/Springfield", json={"wan_kbps": 1},
                            headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "wrong-tenant"
    resp = await client.put("/api/tenants/nosuch/sites/x", json={"wan_kbps": 1}, headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "wrong-tenant"
    resp = await client.get("/api/sites?tenant=globex", headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "wrong-tenant"
    assert set(await sites_of(client, globex)) == {"Springfield"}
    assert (await sites_of(client, globex))["Springfield"]["wan_kbps"] is None  # untouched
    # The admin names the tenant.
    resp = await client.get("/api/sites", headers=ADMIN)
    assert resp.status == 403 and (await resp.json())["error"] == "tenant-required"
    assert set(await sites_of(client, ADMIN, "?tenant=globex")) == {"Springfield"}
    resp = await client.put("/api/tenants/globex/sites/Springfield", json={"wan_kbps": 500},
                            headers=ADMIN)
    assert resp.status == 200
    resp = await client.put("/api/tenants/nosuch/sites/x", json={"wan_kbps": 1}, headers=ADMIN)
    assert resp.status == 404 and (await resp.json())["error"] == "tenant-not-found"
    assert (await client.get("/api/sites")).status == 401


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"wan_kbps": 0}, 422, "invalid-capacity"),
    ({"wan_kbps": -5}, 422, "invalid-capacity"),
    ({"wan_kbps": 12.5}, 422, "invalid-capacity"),
    ({"wan_kbps": True}, 422, "invalid-capacity"),
    ({"wan_kbps": "100"}, 422, "invalid-capacity"),
    ({"wan_kbps": 100_000_001}, 422, "invalid-capacity"),
    ({}, 422, "invalid-capacity"),
    ({"wan_kbps": 100, "colour": "red"}, 422, "unknown-field"),
    ([100], 400, "bad-json"),
])
async def test_bad_capacities_are_refused_by_name(rt: Runtime, client: TestClient, body: Any,
                                                  status: int, error: str) -> None:
    resp = await client.put("/api/tenants/acme/sites/London", json=body, headers=token(rt, "acme"))
    assert resp.status == status and (await resp.json())["error"] == error
    assert (await sites_of(client, token(rt, "acme")))["London"]["wan_kbps"] is None


async def test_the_admin_page_sets_a_sites_link_and_shows_its_load(rt: Runtime, client: TestClient) -> None:
    csrf = await login(client, rt.demo_secrets["acme.token"])  # type: ignore[attr-defined]
    resp = await post(client, "/admin/tenants/acme/sites", csrf, name="London", wan_kbps="250")
    assert resp.status == 303 and resp.headers["Location"] == "/admin/tenants/acme#sites"
    assert (await sites_of(client, token(rt, "acme")))["London"]["wan_kbps"] == 250
    page = await (await client.get("/admin/tenants/acme")).text()
    assert '<tr data-site="London"><td>London</td><td>250</td><td>0.0</td><td>0</td><td>200.0</td>' in page
    # A bad value is shown beside the form, with its error id; nothing changes.
    resp = await post(client, "/admin/tenants/acme/sites", csrf, name="London", wan_kbps="lots")
    assert resp.status == 422 and "invalid-capacity" in await resp.text()
    # Empty: unlimited again.
    resp = await post(client, "/admin/tenants/acme/sites", csrf, name="London", wan_kbps="")
    assert resp.status == 303
    assert (await sites_of(client, token(rt, "acme")))["London"]["wan_kbps"] is None
    # Another tenant's sites stay out of reach.
    resp = await post(client, "/admin/tenants/globex/sites", csrf, name="Springfield", wan_kbps="1")
    assert resp.status == 403
