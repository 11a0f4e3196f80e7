"""The provisioning API on the internal app: a tenant built from nothing, validation, the
audit log, and every route refused across tenants."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from ccari.app import internal_app
from ccari.storage.models import Agent, Contact

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}

SALES = {"name": "sales", "prompt": "welcome", "options": [
    {"digit": "1", "label": "new line", "attributes": {"need": "new"}},
    {"digit": "2", "label": "upgrade", "attributes": {"need": "upgrade"}}]}
MAIN = {"name": "main", "prompt": "welcome", "default": {"skill": "support"}, "options": [
    {"digit": "1", "label": "sales", "attributes": {"skill": "sales"}, "menu": "sales"},
    {"digit": "2", "label": "support", "attributes": {"skill": "support"}}]}


def agent(username: str, **extra: object) -> dict[str, object]:
    return {"username": username, "name": username.title(), "site": "Paris",
            "skills": [{"name": "skill", "value": "sales", "level": 7}],
            "phone_username": f"initech-{username}", "phone_password": "phone-secret-1",
            "web_password": "web-secret-1", **extra}


def bearer(rt, slug: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.demo_secrets[f'{slug}.token']}"}


async def ok(resp, status: int = 200):  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert resp.status == status, body
    return body


async def error(resp, status: int, error_id: str) -> str:
    body = await resp.json()
    assert (resp.status, body.get("error")) == (status, error_id), body
    return str(body["message"])


async def test_a_tenant_from_nothing_then_its_own_token_manages_it(client: TestClient) -> None:
    made = await ok(await client.post("/api/tenants", json={"slug": "initech", "name": "Initech"},
                                      headers=ADMIN), 201)
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"
    # The sub-menu first: an option may only lead to a menu that exists.
    await ok(await client.post(f"{base}/menus", json=SALES, headers=own), 201)
    await ok(await client.post(f"{base}/menus", json=MAIN, headers=own), 201)
    await error(await client.post(f"{base}/numbers", json={"did": "+1 555 0300"}, headers=own),
                403, "admin-only")
    number = await ok(await client.post(f"{base}/numbers", json={"did": "+1 555 0300",
                                                                 "menu": "main"},
                                        headers=ADMIN), 201)
    assert number == {"number": {"did": "15550300", "queue": "main", "menu": "main"}, "pbx": "off"}
    fax = await ok(await client.post(f"{base}/numbers", json={"did": "+1 555 0301",
                                                              "purpose": "fax"}, headers=ADMIN), 201)
    assert fax["number"] == {"did": "15550301", "queue": "main", "menu": None, "purpose": "fax"}
    for name in ("dora", "eve"):
        await ok(await client.post(f"{base}/agents", json=agent(name), headers=own), 201)
    doc = await ok(await client.get(base, headers=own))
    assert [a["username"] for a in doc["agents"]] == ["dora", "eve"]
    assert doc["agents"][0]["skills"] == [{"name": "skill", "value": "sales", "level": 7}]
    assert "phone_password" not in doc["agents"][0]
    assert doc["menus"][0]["options"][0]["menu"] == "sales"
    tenants = await ok(await client.get("/api/tenants", headers=own))
    assert tenants == {"tenants": [{"slug": "initech", "name": "Initech"}]}
    # Every change is in the audit log, with who made it and no secret.
    log = (await ok(await client.get(f"{base}/audit", headers=own)))["audit"]
    assert [(e["actor"], e["kind"], e["key"], e["action"]) for e in reversed(log)] == [
        ("admin", "tenant", "initech", "create"), ("admin", "queue", "main", "create"),
        ("tenant:initech", "menu", "sales", "create"), ("tenant:initech", "menu", "main", "create"),
        ("admin", "number", "15550300", "create"), ("admin", "number", "15550301", "create"),
        ("tenant:initech", "agent", "dora", "create"), ("tenant:initech", "agent", "eve", "create")]
    assert "secret" not in str(log)
    # An update records before and after.
    await ok(await client.put(f"{base}/agents/dora", headers=own, json={
        **agent("dora"), "web_password": None,
        "skills": [{"name": "skill", "value": "sales", "level": 3}]}))
    last = (await ok(await client.get(f"{base}/audit?limit=1", headers=own)))["audit"][0]
    assert (last["action"], last["before"]["skills"][0]["level"], last["after"]["skills"][0]["level"]) \
        == ("update", 7, 3)


async def test_each_resource_reads_back_what_was_written_then_is_deleted(client: TestClient) -> None:
    """Queues, numbers, agents and menus one by one: each answer is the resource as stored
    (and, through the suite's OpenAPI check, of the documented shape)."""
    made = await ok(await client.post("/api/tenants", json={"slug": "initech", "name": "Initech"},
                                      headers=ADMIN), 201)
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"
    queue = await ok(await client.put(f"{base}/queues/main", json={"ring_timeout_s": 25},
                                      headers=own))
    assert queue == {"queue": {"name": "main", "ring_timeout_s": 25, "wrap_up_s": 5.0,
                               "announce_every_s": 30.0}}
    assert (await ok(await client.get(f"{base}/queues", headers=own)))["queues"] == [queue["queue"]]

    await ok(await client.post(f"{base}/menus", json=SALES, headers=own), 201)
    changed = await ok(await client.put(f"{base}/menus/sales", json={**SALES, "timeout_s": 8},
                                        headers=own))
    assert changed["menu"]["timeout_s"] == 8.0
    assert await ok(await client.get(f"{base}/menus/sales", headers=own)) == changed["menu"]
    assert (await ok(await client.get(f"{base}/menus", headers=own)))["menus"] == [changed["menu"]]

    await ok(await client.post(f"{base}/numbers", json={"did": "+15550300"}, headers=ADMIN), 201)
    moved = await ok(await client.put(f"{base}/numbers/15550300", json={"menu": "sales"},
                                      headers=own))
    # Where a number leads is read per call: Asterisk needs no reload for it.
    assert moved == {"number": {"did": "15550300", "queue": "main", "menu": "sales"},
                     "pbx": "unchanged"}
    assert await ok(await client.get(f"{base}/numbers/15550300", headers=own)) == moved["number"]
    assert (await ok(await client.get(f"{base}/numbers", headers=own)))["numbers"] == [moved["number"]]

    created = await ok(await client.post(f"{base}/agents", json=agent("dora"), headers=own), 201)
    assert await ok(await client.get(f"{base}/agents/dora", headers=own)) == created["agent"]
    assert (await ok(await client.get(f"{base}/agents", headers=own)))["agents"] == [created["agent"]]

    assert await ok(await client.delete(f"{base}/agents/dora", headers=own)) == {
        "deleted": "dora", "pbx": "off"}
    assert await ok(await client.delete(f"{base}/numbers/15550300", headers=ADMIN)) == {
        "deleted": "15550300", "pbx": "off"}
    assert await ok(await client.delete(f"{base}/menus/sales", headers=own)) == {"deleted": "sales"}
    for path in ("agents", "numbers", "menus"):
        assert (await ok(await client.get(f"{base}/{path}", headers=own)))[path] == []


async def test_an_agent_with_a_history_is_deleted_and_her_past_contacts_stay(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    """An agent who has had work can leave: refused while a contact of hers is open, then
    deleted; her finished contacts stay in the tenant's history, without her."""
    made = await ok(await client.post("/api/tenants", json={"slug": "initech", "name": "Initech"},
                                      headers=ADMIN), 201)
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"
    await ok(await client.post(f"{base}/agents", json=agent("dora"), headers=own), 201)
    async with rt.sessions() as s:
        dora = await s.scalar(select(Agent).where(Agent.username == "dora"))
        assert dora is not None
        done = Contact(tenant_id=dora.tenant_id, medium="voice", state="completed",
                       agent_id=dora.id)
        live = Contact(tenant_id=dora.tenant_id, medium="chat", state="connected",
                       agent_id=dora.id)
        s.add_all([done, live])
        await s.commit()
        ids = (done.id, live.id)
    resp = await client.delete(f"{base}/agents/dora", headers=own)
    assert resp.status == 409 and (await resp.json())["error"] == "agent-has-work"
    async with rt.sessions() as s:
        await s.execute(update(Contact).where(Contact.id == ids[1]).values(state="completed"))
        await s.commit()
    assert await ok(await client.delete(f"{base}/agents/dora", headers=own)) == {
        "deleted": "dora", "pbx": "off"}
    async with rt.sessions() as s:
        kept = list(await s.scalars(select(Contact).where(Contact.id.in_(ids))))
    assert sorted((c.state, c.agent_id) for c in kept) == [("completed", None)] * 2


async def test_a_whole_tenant_document_creates_then_updates(client: TestClient) -> None:
    doc = {"tenant": {"slug": "initech", "name": "Initech"}, "menus": [MAIN, SALES],
           "queues": [{"name": "main", "ring_timeout_s": 20}],
           "numbers": [{"did": "+15550300", "menu": "main"}], "agents": [agent("dora")]}
    made = await ok(await client.put("/api/tenants/initech", json=doc, headers=ADMIN), 201)
    assert made["api_token"] and made["numbers"] == [{"did": "15550300", "queue": "main",
                                                      "menu": "main"}]
    assert made["queues"][0]["ring_timeout_s"] == 20
    doc["tenant"]["name"] = "Initech Corp"
    again = await ok(await client.put("/api/tenants/initech", json=doc, headers=ADMIN))
    assert "api_token" not in again and again["tenant"]["name"] == "Initech Corp"
    log = (await ok(await client.get("/api/tenants/initech/audit", headers=ADMIN)))["audit"]
    assert [(e["kind"], e["action"]) for e in log if e["action"] == "update"] == [
        ("agent", "update"), ("tenant", "update")]  # the agent's password was set again


async def test_a_tenants_own_document_cannot_take_a_number_nor_rename_it(
        client: TestClient) -> None:
    """What only the admin does through the parts API is refused through a whole document
    too, and nothing of that document is written."""
    doc = {"tenant": {"slug": "initech", "name": "Initech"}, "menus": [MAIN, SALES],
           "numbers": [{"did": "+15550300", "menu": "main"}], "agents": [agent("dora")]}
    made = await ok(await client.put("/api/tenants/initech", json=doc, headers=ADMIN), 201)
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"

    taking = {**doc, "numbers": [*doc["numbers"], {"did": "+15550377"}],  # type: ignore[list-item]
              "agents": [agent("dora"), agent("eve")]}
    await error(await client.put(base, json=taking, headers=own), 403, "admin-only")
    renaming = {**doc, "tenant": {"slug": "initech", "name": "Initech Global"}}
    await error(await client.put(base, json=renaming, headers=own), 403, "admin-only")
    now = await ok(await client.get(base, headers=own))
    assert now["tenant"]["name"] == "Initech"
    assert [n["did"] for n in now["numbers"]] == ["15550300"]
    assert [a["username"] for a in now["agents"]] == ["dora"]  # eve came with the refused one

    # Its own numbers and name, changed as a tenant may: applied.
    mine = {**doc, "numbers": [{"did": "+15550300", "queue": "main"}]}
    again = await ok(await client.put(base, json=mine, headers=own))
    assert again["numbers"] == [{"did": "15550300", "queue": "main", "menu": None}]


@pytest.mark.parametrize(("path", "body", "status", "error_id"), [
    ("numbers", {"did": "+1 555"}, 422, "invalid-number"),
    ("numbers", {"did": "15550100"}, 409, "number-taken"),  # acme's
    ("numbers", {"did": "+15550300", "menu": "nope"}, 422, "unknown-menu"),
    ("numbers", {"did": "+15550300", "queue": "nope"}, 422, "unknown-queue"),
    ("numbers", {"did": "+15550300", "colour": "red"}, 422, "unknown-field"),
    ("numbers", {"did": "+15550300", "purpose": "telex"}, 422, "invalid-purpose"),
    ("numbers", {"did": "+15550300", "purpose": "fax", "menu": "main"}, 422, "invalid-purpose"),
    ("agents", agent("dora", skills=[{"name": "skill", "value": "x", "level": 11}]), 422,
     "invalid-field"),
    ("agents", agent("dora", phone_username="acme-alice"), 409, "phone-taken"),
    ("agents", agent("dora", phone_password="short"), 422, "invalid-field"),
    # ccari's own PJSIP objects: a phone by that name would break every tenant's PBX reload
    ("agents", agent("dora", phone_username="ccari-web"), 422, "reserved-name"),
    ("agents", agent("dora", phone_username="carrier"), 422, "reserved-name"),
    ("agents", agent("dora", phone_username="anonymous"), 422, "reserved-name"),
    ("agents", agent("dora", slots={"per_medium": {"pigeon": 1}}), 422, "invalid-field"),
    ("menus", {**MAIN, "name": "x"}, 422, "unknown-menu"),  # its sub-menu "sales" is missing
    ("menus", {"name": "x", "prompt": "no-such-prompt"}, 422, "unknown-prompt"),
    ("menus", {"name": "x", "options": [{"digit": "1"}, {"digit": "1"}]}, 422, "invalid-field"),
    ("menus", {"name": "x", "options": [{"digit": "A"}]}, 422, "invalid-field"),
    ("menus", {"name": "x", "options": [{"digit": "1", "action": "fax"}]}, 422, "invalid-field"),
])
async def test_what_cannot_be_taken_is_refused_with_its_error(
        client: TestClient, path: str, body: dict[str, object], status: int, error_id: str) -> None:
    await ok(await client.post("/api/tenants", json={"slug": "initech", "name": "Initech"},
                               headers=ADMIN), 201)
    message = await error(await client.post(f"/api/tenants/initech/{path}", json=body,
                                            headers=ADMIN), status, error_id)
    assert message
    log = (await ok(await client.get("/api/tenants/initech/audit", headers=ADMIN)))["audit"]
    assert {e["kind"] for e in log} == {"tenant", "queue"}  # nothing half-done was recorded


async def test_menus_cannot_loop_nor_be_deleted_while_in_use(client: TestClient) -> None:
    base = "/api/tenants/initech"
    await ok(await client.post("/api/tenants", json={"slug": "initech", "name": "I"}, headers=ADMIN), 201)
    await ok(await client.post(f"{base}/menus", json=SALES, headers=ADMIN), 201)
    await ok(await client.post(f"{base}/menus", json=MAIN, headers=ADMIN), 201)
    loop = {**SALES, "options": [{"digit": "9", "menu": "main"}]}
    await error(await client.put(f"{base}/menus/sales", json=loop, headers=ADMIN), 422, "menu-cycle")
    await error(await client.delete(f"{base}/menus/sales", headers=ADMIN), 409, "menu-in-use")
    await ok(await client.delete(f"{base}/menus/main", headers=ADMIN))
    await ok(await client.delete(f"{base}/menus/sales", headers=ADMIN))
    await error(await client.get(f"{base}/menus/sales", headers=ADMIN), 404, "menu-not-found")


# Every provisioning route of a tenant, with a body it would take: a route added without a
# row here fails test_every_tenant_route_is_in_the_table.
TENANT_ROUTES = {
    ("GET", "/api/tenants/{tenant}"): None,
    ("PUT", "/api/tenants/{tenant}"): {"tenant": {"slug": "{tenant}", "name": "X"}},
    ("GET", "/api/tenants/{tenant}/queues"): None,
    ("PUT", "/api/tenants/{tenant}/queues/{name}"): {"name": "main"},
    ("GET", "/api/tenants/{tenant}/numbers"): None,
    ("POST", "/api/tenants/{tenant}/numbers"): {"did": "+15550399"},
    ("GET", "/api/tenants/{tenant}/numbers/{did}"): None,
    ("PUT", "/api/tenants/{tenant}/numbers/{did}"): {"queue": "main"},
    ("DELETE", "/api/tenants/{tenant}/numbers/{did}"): None,
    ("GET", "/api/tenants/{tenant}/agents"): None,
    ("POST", "/api/tenants/{tenant}/agents"): agent("zed"),
    ("GET", "/api/tenants/{tenant}/agents/{username}"): None,
    ("PUT", "/api/tenants/{tenant}/agents/{username}"): agent("carol"),
    ("DELETE", "/api/tenants/{tenant}/agents/{username}"): None,
    ("POST", "/api/tenants/{tenant}/agents/{username}/phone_password"): None,
    ("POST", "/api/tenants/{tenant}/token"): None,
    ("GET", "/api/tenants/{tenant}/menus"): None,
    ("POST", "/api/tenants/{tenant}/menus"): {"name": "new"},
    ("GET", "/api/tenants/{tenant}/menus/{name}"): None,
    ("PUT", "/api/tenants/{tenant}/menus/{name}"): {"name": "main"},
    ("DELETE", "/api/tenants/{tenant}/menus/{name}"): None,
    ("GET", "/api/tenants/{tenant}/prompts"): None,
    ("PUT", "/api/tenants/{tenant}/prompts/{prompt}"): {"text": "Hello."},
    ("GET", "/api/tenants/{tenant}/prompts/{prompt}"): None,
    ("DELETE", "/api/tenants/{tenant}/prompts/{prompt}"): None,
    ("GET", "/api/tenants/{tenant}/hours"): None,
    ("PUT", "/api/tenants/{tenant}/hours"): {"time_zone": "UTC"},
    ("DELETE", "/api/tenants/{tenant}/hours"): None,
    ("GET", "/api/tenants/{tenant}/after-hours"): None,
    ("PUT", "/api/tenants/{tenant}/after-hours"): {"action": "voicemail"},
    ("DELETE", "/api/tenants/{tenant}/after-hours"): None,
    ("GET", "/api/tenants/{tenant}/recording"): None,
    ("PUT", "/api/tenants/{tenant}/recording"): {"mode": "all"},
    ("GET", "/api/tenants/{tenant}/audit"): None,
    ("GET", "/api/tenants/{tenant}/routing"): None,
    ("PUT", "/api/tenants/{tenant}/routing"): {"blend_hold_s": 5},
    ("PUT", "/api/tenants/{tenant}/sites/{name}"): {"wan_kbps": 512},
    ("GET", "/api/tenants/{tenant}/dispositions"): None,
    ("PUT", "/api/tenants/{tenant}/dispositions"): {"codes": ["sale"]},
    ("PATCH", "/api/tenants/{tenant}"): {"name": "Mine"},
    ("DELETE", "/api/tenants/{tenant}"): None,
}
# globex's objects the paths name; an acme token must reach none of them.
GLOBEX_PATH = {"tenant": "globex", "name": "main", "did": "15550200", "username": "carol",
               "prompt": "greeting"}


def provisioning_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.resource is not None and r.resource.canonical.startswith("/api/tenants/{tenant}")
            and r.method != "HEAD"}


async def test_every_tenant_route_is_in_the_table(rt) -> None:
    assert provisioning_routes(internal_app(rt)) == set(TENANT_ROUTES)


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("target", ["globex", "nosuchtenant"])
async def test_a_tenant_token_is_refused_on_every_route_of_another_tenant(
        client: TestClient, rt, route: tuple[str, str], target: str) -> None:
    method, template = route
    path = template.format(**{**GLOBEX_PATH, "tenant": target})
    body = TENANT_ROUTES[route]
    if isinstance(body, dict) and "tenant" in body:
        body = {"tenant": {"slug": target, "name": "X"}}
    before = await ok(await client.get("/api/tenants/globex", headers=ADMIN))
    log_before = await ok(await client.get("/api/tenants/globex/audit", headers=ADMIN))
    resp = await client.request(method, path, json=body, headers=bearer(rt, "acme"))
    await error(resp, 403, "wrong-tenant")
    assert await ok(await client.get("/api/tenants/globex", headers=ADMIN)) == before
    # Nothing recorded either (the log holds only the demo seed's own changes).
    assert await ok(await client.get("/api/tenants/globex/audit", headers=ADMIN)) == log_before


async def test_without_a_token_nothing_is_served(client: TestClient) -> None:
    await error(await client.get("/api/tenants"), 401, "token-required")
    await error(await client.get("/api/tenants/acme/agents"), 401, "token-required")
    await error(await client.post("/api/tenants", json={"slug": "x", "name": "x"},
                                  headers={"Authorization": "Bearer wrong"}), 401, "bad-token")
