"""The internal and public HTTP apps, without a PBX: auth, CSRF, escaping, isolation."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from ccari.app import public_app
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import utcnow
from ccari.tenants import repo as tenants_repo


async def _login(client: TestClient, tenant: str, user: str, password: str):
    form = await client.get("/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)
    return await client.post("/agent/login", data={
        "csrf": csrf, "tenant": tenant, "username": user, "password": password,
    }, allow_redirects=False)


async def test_agent_page_requires_login(client):
    resp = await client.get("/agent", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/agent/login"


async def test_every_agent_api_without_a_login_answers_401_login_required(client):
    """The page's APIs and websockets, asked without the agent's session cookie: one JSON
    error the page can act on (back to the login form), never a page or a plain-text 401."""
    same_origin = {"Origin": str(client.make_url("")).rstrip("/")}
    asks = [("GET", "/agent/api/phone"), ("POST", "/agent/api/calls/c-1/hold"),
            ("GET", "/agent/ws"), ("GET", "/agent/phone/ws"),
            ("GET", "/agent/cobrowse/ws?contact=c-1"), ("GET", "/agent/faxes/c-1/pdf"),
            ("GET", "/agent/voicemails/c-1")]
    for method, path in asks:
        resp = await client.request(method, path, headers=same_origin, allow_redirects=False)
        assert resp.status == 401, (path, resp.status)
        assert (await resp.json())["error"] == "login-required", path


async def test_login_without_csrf_token_is_refused(client, rt):
    resp = await client.post("/agent/login", data={
        "tenant": "acme", "username": "alice", "password": rt.demo_secrets["acme.alice.web"]})
    assert resp.status == 403
    assert (await resp.json())["error"] == "csrf-failed"


async def test_wrong_password_is_refused_and_input_is_escaped(client):
    resp = await _login(client, "<script>alert(1)</script>", "alice", "nope")
    assert resp.status == 401
    body = await resp.text()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Wrong tenant, username or password." in body
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_agent_logs_in_and_sets_presence_over_the_websocket(client, rt):
    resp = await _login(client, "acme", "alice", rt.demo_secrets["acme.alice.web"])
    assert resp.status == 303 and resp.headers["Location"] == "/agent"
    page = await client.get("/agent")
    assert page.status == 200
    assert "Alice Sales" in await page.text()
    ws = await client.ws_connect("/agent/ws")
    hello = await ws.receive_json(timeout=5)
    assert hello == {"type": "hello", "state": "not_ready", "reason": None, "phone_reachable": True}
    await ws.send_json({"type": "presence", "presence": "ready"})
    msg = await ws.receive_json(timeout=5)
    assert msg["type"] == "state" and msg["state"] == "ready"
    await ws.send_str("{not json")
    assert (await ws.receive_json(timeout=5))["error"] == "bad-json"
    await ws.close()
    # The presence is saved, so a restarted ccari puts alice back in the queue.
    async with rt.sessions() as s:
        from ccari.agents import repo

        row = await repo.by_login(s, "acme", "alice")
        assert row.presence == "ready"


async def test_websocket_from_another_origin_is_refused(client, rt):
    await _login(client, "acme", "alice", rt.demo_secrets["acme.alice.web"])
    resp = await client.get("/agent/ws", headers={
        "Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 403
    assert (await resp.json())["error"] == "bad-origin"


async def test_api_requires_a_token_and_keeps_tenants_apart(client, rt):
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        c = await contacts_repo.create(s, tenant_id=acme.id, medium="voice", state="ivr",
                                       arrived_at=utcnow(), caller_number="15550199")
        await s.commit()
    resp = await client.get("/api/contacts")
    assert resp.status == 401 and (await resp.json())["error"] == "token-required"
    bad = await client.get("/api/contacts", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401 and (await bad.json())["error"] == "bad-token"

    acme_h = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    globex_h = {"Authorization": f"Bearer {rt.demo_secrets['globex.token']}"}
    mine = await (await client.get("/api/contacts", headers=acme_h)).json()
    assert [x["id"] for x in mine["contacts"]] == [c.id]
    theirs = await (await client.get("/api/contacts", headers=globex_h)).json()
    assert theirs["contacts"] == []
    other = await client.get(f"/api/contacts/{c.id}", headers=globex_h)
    assert other.status == 404 and (await other.json())["error"] == "contact-not-found"
    cross = await client.get("/api/contacts?tenant=globex", headers=acme_h)
    assert cross.status == 403 and (await cross.json())["error"] == "wrong-tenant"

    admin_h = {"Authorization": f"Bearer {rt.config.admin_token}"}
    unscoped = await client.get("/api/contacts", headers=admin_h)
    assert unscoped.status == 403 and (await unscoped.json())["error"] == "tenant-required"
    detail = await (await client.get(f"/api/contacts/{c.id}?tenant=acme", headers=admin_h)).json()
    assert detail["caller_number"] == "15550199"
    assert [e["kind"] for e in detail["events"]] == ["created"]
    bad_limit = await client.get("/api/contacts?limit=abc", headers=acme_h)
    assert bad_limit.status == 400 and (await bad_limit.json())["error"] == "bad-request"


async def test_public_listener_has_no_internal_routes(rt, aiohttp_client):
    public = await aiohttp_client(public_app(rt))
    assert (await public.get("/healthz")).status == 200
    for path in ("/api/contacts", "/agent", "/agent/login", "/agent/ws", "/static/agent.js"):
        resp = await public.get(path, headers={"Authorization": f"Bearer {rt.config.admin_token}"})
        assert resp.status == 404, path
