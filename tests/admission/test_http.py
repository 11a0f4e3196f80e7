"""The admission REST API on the internal app: auth, tenant isolation, validation, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app, runtime
from ccari.demo.seed import seed
from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
PERIOD = {"from": "2024-05-01", "to": "2024-05-02T00:00:00Z"}


@pytest.fixture
async def rt(cfg, sessions):
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        globex = await tenants_repo.by_slug(s, "globex")
        s.add_all([
            Contact(id="a1", tenant_id=acme.id, medium="voice", state="completed", arrived_at=T0,
                    ended_at=T0 + dt.timedelta(seconds=61), wait_s=5.0, talk_s=50.0),
            Contact(id="a2", tenant_id=acme.id, medium="chat", state="completed", arrived_at=T0,
                    ended_at=T0 + dt.timedelta(seconds=300), wait_s=2.0, talk_s=200.0),
            Contact(id="g1", tenant_id=globex.id, medium="voice", state="abandoned",
                    arrived_at=T0, ended_at=T0 + dt.timedelta(seconds=12), wait_s=12.0),
        ])
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        rt.ids = {"acme": acme.id, "globex": globex.id}  # type: ignore[attr-defined]
        yield rt


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:
    return await aiohttp_client(internal_app(rt))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def acme(rt) -> dict[str, str]:
    return bearer(rt.demo_secrets["acme.token"])


@pytest.fixture
def globex(rt) -> dict[str, str]:
    return bearer(rt.demo_secrets["globex.token"])


@pytest.fixture
def admin(cfg) -> dict[str, str]:
    return bearer(cfg.admin_token)


ENDPOINTS = [
    ("GET", "/api/usage"), ("GET", "/api/bill"), ("GET", "/api/admission/decisions"),
    ("GET", "/api/admission/policy"), ("PUT", "/api/admission/policy"),
    ("GET", "/api/admission/rates"), ("PUT", "/api/admission/rates"),
    ("GET", "/api/admission/pool"), ("PUT", "/api/admission/pool"),
]


async def test_every_endpoint_needs_a_token(client):
    for method, path in ENDPOINTS:
        resp = await client.request(method, path, params=PERIOD, json={"ratio": 1})
        assert resp.status == 401, path
        assert (await resp.json())["error"] == "token-required"
        resp = await client.request(method, path, params=PERIOD, headers=bearer("nope"))
        assert resp.status == 401 and (await resp.json())["error"] == "bad-token"


async def test_usage_is_tenant_scoped(client, acme, globex, admin):
    resp = await client.get("/api/usage", params=PERIOD, headers=acme)
    assert resp.status == 200
    body = await resp.json()
    assert {(r["tenant"], r["medium"], r["trunk_s"], r["queue_s"], r["talk_s"])
            for r in body["rows"]} == {("acme", "voice", 61, 5, 50), ("acme", "chat", 0, 2, 200)}
    assert body["totals"] == {"acme": {"contacts": 2, "trunk_s": 61, "queue_s": 7, "talk_s": 250}}
    # acme's token never sees globex, even when it asks for it.
    resp = await client.get("/api/usage", params={**PERIOD, "tenant": "globex"}, headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "wrong-tenant"
    resp = await client.get("/api/usage", params=PERIOD, headers=globex)
    assert [r["tenant"] for r in (await resp.json())["rows"]] == ["globex"]
    # The admin token names a tenant.
    resp = await client.get("/api/usage", params=PERIOD, headers=admin)
    assert resp.status == 403 and (await resp.json())["error"] == "tenant-required"
    resp = await client.get("/api/usage", params={**PERIOD, "tenant": "globex"}, headers=admin)
    assert [r["result"] for r in (await resp.json())["rows"]] == ["abandoned"]


async def test_usage_and_bill_as_csv(client, acme, admin):
    resp = await client.get("/api/usage", params={**PERIOD, "format": "csv"}, headers=acme)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert {(r["medium"], r["result"], r["contacts"], r["trunk_s"], r["talk_s"]) for r in rows} == {
        ("voice", "completed", "1", "61", "50"), ("chat", "completed", "1", "0", "200")}

    resp = await client.get("/api/bill", params=PERIOD, headers=acme)
    assert resp.status == 404 and (await resp.json())["error"] == "rates-not-set"
    resp = await client.put("/api/admission/rates", params={"tenant": "acme"}, headers=admin,
                            data='{"per_trunk_minute": 0.012, "per_agent_minute": "0.60",'
                                 ' "per_contact": {"voice": 0.05}}')
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["per_trunk_minute"] == "0.012"  # a JSON number stays exact
    resp = await client.get("/api/bill", params={**PERIOD, "format": "csv"}, headers=acme)
    assert resp.status == 200
    lines = list(csv.DictReader(io.StringIO(await resp.text())))
    amounts = {li["item"]: li["amount"] for li in lines}
    # 61 s trunk * 0.012/60 = 0.0122 -> 0.01; 250 s talk * 0.60/60 = 2.50; 1 voice contact 0.05
    assert amounts == {"trunk-minutes": "0.01", "agent-minutes": "2.50", "contacts:chat": "0.00",
                       "contacts:voice": "0.05", "total": "2.56"}
    resp = await client.get("/api/bill", params=PERIOD, headers=acme)
    assert (await resp.json())["total"] == "2.56"


BAD_PERIODS = [
    {}, {"from": "2024-05-01"}, {"from": "yesterday", "to": "2024-05-02"},
    {"from": "2024-05-02", "to": "2024-05-01"}, {"from": "2024-13-01", "to": "2024-05-02"},
]


async def test_bad_periods_are_refused(client, acme):
    for path in ("/api/usage", "/api/bill"):
        for params in BAD_PERIODS:
            resp = await client.get(path, params=params, headers=acme)
            assert resp.status == 400, (path, params)
            assert (await resp.json())["error"] == "bad-period"


async def test_periods_accept_offsets_and_formats_are_checked(client, acme):
    resp = await client.get("/api/usage?from=2024-05-01T00:00:00+00:00&to=2024-05-02T02:00+02:00",
                            headers=acme)
    assert resp.status == 200 and len((await resp.json())["rows"]) == 2
    resp = await client.get("/api/usage", params={**PERIOD, "format": "xml"}, headers=acme)
    assert resp.status == 400 and (await resp.json())["error"] == "bad-format"


async def test_decisions_explain_refusals_to_their_tenant_only(client, rt, acme, globex):
    ids = rt.ids
    results = [await rt.admission.admit_inbound(ids["acme"], f"c{i}") for i in range(4)]
    assert [r.admit for r in results] == [True, True, True, False]  # A=0, T=3
    resp = await client.get("/api/admission/decisions", params={"refused": "1"}, headers=acme)
    assert resp.status == 200
    decisions = (await resp.json())["decisions"]
    assert len(decisions) == 1
    d = decisions[0]
    assert (d["call_id"], d["admit"], d["action"], d["reason"], d["permitted"]) == (
        "c3", False, "busy", "tenant-limit-reached", 3)
    assert d["explanation"] == "refused: the tenant already holds 3 of 3 permitted calls"
    assert d["inputs"]["T"] == 3 and d["inputs"]["A"] == 0
    resp = await client.get("/api/admission/decisions", params={"limit": "2"}, headers=acme)
    assert [x["call_id"] for x in (await resp.json())["decisions"]] == ["c3", "c2"]
    resp = await client.get("/api/admission/decisions", headers=globex)
    assert (await resp.json())["decisions"] == []
    for bad in ("x", "0", "100000"):
        resp = await client.get("/api/admission/decisions", params={"limit": bad}, headers=acme)
        assert resp.status == 400 and (await resp.json())["error"] == "bad-limit"


async def test_policy_read_and_admin_only_entitlement(client, rt, acme, admin):
    resp = await client.get("/api/admission/policy", headers=acme)
    assert await resp.json() == {
        "tenant_id": rt.ids["acme"], "tenant": "acme", "ratio": 1.5, "after_hours_trunks": 3,
        "overflow": "busy", "available_agents": 0, "permitted": 3, "outstanding": 0,
    }
    # A tenant chooses its overflow treatment, not its own share of the pool.
    resp = await client.put("/api/admission/policy", json={"overflow": "fax"}, headers=acme)
    assert resp.status == 400 and (await resp.json())["error"] == "bad-overflow"
    resp = await client.put("/api/admission/policy", json={"overflow": "voicemail"}, headers=acme)
    assert resp.status == 200 and (await resp.json())["overflow"] == "voicemail"
    resp = await client.put("/api/admission/policy", json={"overflow": "announcement"}, headers=acme)
    assert resp.status == 200 and (await resp.json())["overflow"] == "announcement"
    resp = await client.put("/api/admission/policy", json={"ratio": 9}, headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "admin-only"
    resp = await client.put("/api/admission/policy", params={"tenant": "acme"}, headers=admin,
                            json={"ratio": 2, "after_hours_trunks": 5})
    body = await resp.json()
    assert resp.status == 200 and (body["ratio"], body["after_hours_trunks"], body["permitted"]) == (
        2.0, 5, 5)


BAD_POLICIES = [
    ({"ratio": -1}, "bad-ratio"),
    ({"ratio": "2"}, "bad-ratio"),
    ({"ratio": True}, "bad-ratio"),
    ({"ratio": 1e9}, "bad-ratio"),
    ({"after_hours_trunks": 1.5}, "bad-after-hours-trunks"),
    ({"after_hours_trunks": -2}, "bad-after-hours-trunks"),
    ({"overflow": "hangup"}, "bad-overflow"),
    ({}, "bad-json"),
    ([1, 2], "bad-json"),
]


async def test_policy_updates_are_validated(client, admin):
    for body, error in BAD_POLICIES:
        resp = await client.put("/api/admission/policy", params={"tenant": "acme"},
                                headers=admin, json=body)
        assert resp.status == 400, body
        assert (await resp.json())["error"] == error, body
    resp = await client.put("/api/admission/policy", params={"tenant": "acme"}, headers=admin,
                            json={"overflow": None, "color": "red"})
    assert resp.status == 422 and (await resp.json())["error"] == "unknown-field"
    resp = await client.get("/api/admission/policy", params={"tenant": "acme"}, headers=admin)
    assert (await resp.json())["ratio"] == 1.5  # nothing was changed


async def test_policy_body_must_be_json(client, admin):
    resp = await client.put("/api/admission/policy", params={"tenant": "acme"}, headers=admin,
                            data="ratio=2")
    assert resp.status == 400 and (await resp.json())["error"] == "bad-json"


async def test_rates_and_pool_are_set_by_the_admin(client, acme, admin):
    resp = await client.put("/api/admission/rates", json={"per_trunk_minute": "1"}, headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "admin-only"
    for body, error in (({"per_trunk_minute": "-1"}, "bad-rate"),
                        ({"per_trunk_minute": "abc"}, "bad-rate"),
                        ({"per_contact": {"voice": "NaN"}}, "bad-rate"),
                        ({"currency": "euro"}, "bad-currency")):
        resp = await client.put("/api/admission/rates", params={"tenant": "acme"}, json=body,
                                headers=admin)
        assert resp.status == 400 and (await resp.json())["error"] == error, body
    resp = await client.get("/api/admission/rates", headers=acme)
    assert resp.status == 404
    prices = {"currency": "GBP", "per_trunk_minute": "0.012", "per_agent_minute": "0.60",
              "per_contact": {"voice": "0.05"}, "uncharged_results": ["rejected"]}
    resp = await client.put("/api/admission/rates", params={"tenant": "acme"}, json=prices,
                            headers=admin)
    assert resp.status == 200
    resp = await client.get("/api/admission/rates", headers=acme)
    assert resp.status == 200 and await resp.json() == {"tenant": "acme", **prices}

    resp = await client.get("/api/admission/pool", headers=acme)
    assert resp.status == 403 and (await resp.json())["error"] == "admin-only"
    resp = await client.get("/api/admission/pool", headers=admin)
    assert (await resp.json())["total_trunks"] == 30
    for body in ({"total_trunks": -1}, {"total_trunks": 2.5}, {"soon_threshold": 2},
                 {"arrival_window_s": 0}):
        resp = await client.put("/api/admission/pool", json=body, headers=admin)
        assert resp.status == 400 and (await resp.json())["error"] == "bad-pool-setting", body
    resp = await client.put("/api/admission/pool", json={"min_history": 3}, headers=admin)
    assert resp.status == 422 and (await resp.json())["error"] == "unknown-field"
    resp = await client.put("/api/admission/pool", json={"total_trunks": 12}, headers=admin)
    assert resp.status == 200 and (await resp.json())["total_trunks"] == 12
