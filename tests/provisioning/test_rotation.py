"""Secrets rotated through the provisioning API (no Asterisk here: tests/voice/
test_rotation_pbx.py proves the SIP password on the real PBX): the new secret works at once,
the old one is refused, another tenant's token cannot rotate, and the audit log names the
secret without its value."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.storage.models import Agent
from tests.provisioning.test_http import ADMIN, bearer, error, ok


async def test_a_tenant_rotates_its_own_token_and_the_old_one_is_refused_at_once(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    old = bearer(rt, "acme")
    resp = await client.post("/api/tenants/acme/token", headers=old)
    body = await ok(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["tenant"] == "acme" and body["api_token"] != old["Authorization"][7:]
    new = {"Authorization": f"Bearer {body['api_token']}"}
    await error(await client.get("/api/tenants/acme/agents", headers=old), 401, "bad-token")
    assert [a["username"] for a in (await ok(await client.get(
        "/api/tenants/acme/agents", headers=new)))["agents"]] == ["alice", "bob", "sam", "vera"]
    # globex's token is untouched, and the admin's works as before
    await ok(await client.get("/api/tenants/globex", headers=bearer(rt, "globex")))
    audit = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=ADMIN)))["audit"]
    assert audit[0] | {"id": 0, "at": ""} == {
        "id": 0, "at": "", "actor": "tenant:acme", "tenant": "acme", "kind": "tenant",
        "key": "acme", "action": "rotate", "before": None, "after": {"api_token": "rotated"}}
    assert body["api_token"] not in json.dumps(audit)


async def test_the_admin_rotates_any_tenants_token_another_tenant_cannot(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    await error(await client.post("/api/tenants/globex/token", headers=bearer(rt, "acme")),
                403, "wrong-tenant")
    await error(await client.post("/api/tenants/nobody/token", headers=bearer(rt, "acme")),
                403, "wrong-tenant")
    await error(await client.post("/api/tenants/globex/token"), 401, "token-required")
    await ok(await client.get("/api/tenants/globex", headers=bearer(rt, "globex")))  # unchanged
    body = await ok(await client.post("/api/tenants/globex/token", headers=ADMIN))
    await error(await client.get("/api/tenants/globex", headers=bearer(rt, "globex")),
                401, "bad-token")
    await ok(await client.get("/api/tenants/globex",
                              headers={"Authorization": f"Bearer {body['api_token']}"}))
    await error(await client.post("/api/tenants/nobody/token", headers=ADMIN),
                404, "tenant-not-found")
    audit = (await ok(await client.get("/api/tenants/globex/audit?limit=1", headers=ADMIN)))
    assert audit["audit"][0]["actor"] == "admin" and audit["audit"][0]["action"] == "rotate"


async def test_an_agents_sip_password_is_replaced_and_stored_and_only_answered_once(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    old = rt.demo_secrets["acme.alice.sip"]
    resp = await client.post("/api/tenants/acme/agents/alice/phone_password",
                             headers=bearer(rt, "acme"))
    body = await ok(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["agent"] == "alice" and body["phone_username"] == "acme-alice"
    assert body["pbx"] == "off"  # no Asterisk in this runtime
    assert len(body["phone_password"]) >= 32 and body["phone_password"] != old
    async with rt.sessions() as s:
        stored = await s.scalar(select(Agent.phone_password).where(Agent.username == "alice"))
    assert stored == body["phone_password"]
    # The agent's own document and the audit log never show it.
    shown = json.dumps(await ok(await client.get("/api/tenants/acme/agents/alice",
                                                 headers=ADMIN)))
    audit = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=ADMIN)))["audit"]
    assert body["phone_password"] not in shown + json.dumps(audit)
    assert audit[0]["kind"] == "agent" and audit[0]["key"] == "alice"
    assert audit[0]["after"] == {"phone_username": "acme-alice", "phone_password": "rotated"}


async def test_another_tenants_agent_or_a_browser_phone_is_refused(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    carol = "/api/tenants/globex/agents/carol/phone_password"
    await error(await client.post(carol, headers=bearer(rt, "acme")), 403, "wrong-tenant")
    # acme naming globex's agent in its own tenant: no such agent there
    await error(await client.post("/api/tenants/acme/agents/carol/phone_password",
                                  headers=bearer(rt, "acme")), 404, "agent-not-found")
    async with rt.sessions() as s:
        before = await s.scalar(select(Agent.phone_password).where(Agent.username == "carol"))
        bob = await s.scalar(select(Agent).where(Agent.username == "bob"))
        assert bob is not None
        bob.device, bob.phone_contact = "browser", None
        await s.commit()
    assert before == rt.demo_secrets["globex.carol.sip"]
    await error(await client.post("/api/tenants/acme/agents/bob/phone_password",
                                  headers=ADMIN), 409, "browser-phone")


async def test_a_rotated_token_ends_the_admin_page_sessions_it_opened(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    from tests.provisioning.test_pages import login

    await login(client, rt.demo_secrets["acme.token"])
    page = await client.get("/admin/tenants/acme", allow_redirects=False)
    assert page.status == 200
    body = await ok(await client.post("/api/tenants/acme/token", headers=ADMIN))
    page = await client.get("/admin/tenants/acme", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/admin/login")
    await login(client, body["api_token"])  # the new token opens a session again
    assert (await client.get("/admin/tenants/acme", allow_redirects=False)).status == 200
