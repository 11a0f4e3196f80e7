"""The public listener: customer sessions, origins, tokens, rate limits, the anticipated
wait, the widget files and the demo site."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select

from ccari.app import Runtime
from ccari.public.models import TenantSite
from ccari.public.tokens import CustomerTokens
from ccari.tenants import repo as tenants_repo
from tests.public.support import new_session

EVIL = "http://evil.example"
SHOP = "https://www.acme.example"
WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


async def _allow(rt: Runtime, slug: str, origin: str) -> None:
    async with rt.sessions() as s:
        tenant = await tenants_repo.by_slug(s, slug)
        site = await s.scalar(select(TenantSite).where(TenantSite.tenant_id == tenant.id))
        site.origins = [*site.origins, origin]
        await s.commit()


async def test_a_session_is_created_and_a_reload_keeps_it(public: TestClient) -> None:
    resp = await public.post("/v1/sessions", json={"tenant": "acme", "page_url": "http://a.example/x"})
    assert resp.status == 201
    first = await resp.json()
    assert first["expires_in"] == 7200 and first["topics"] == ["sales", "support"]
    again = await public.post("/v1/sessions", json={
        "tenant": "acme", "page_url": "http://a.example/y", "token": first["token"]})
    assert again.status == 200
    assert (await again.json())["session_id"] == first["session_id"]
    # A token of another tenant (or a broken one) never carries its session over.
    other = await new_session(public, "globex", token=first["token"])
    assert other["session_id"] != first["session_id"]
    broken = await new_session(public, "acme", token=first["token"][:-2] + "xx")
    assert broken["session_id"] != first["session_id"]

    for body, status, error in (
        ({"tenant": "nope", "page_url": "http://a.example/"}, 404, "tenant-not-found"),
        ({"tenant": "acme", "page_url": "javascript:alert(1)"}, 400, "bad-page-url"),
        ({"page_url": "http://a.example/"}, 400, "bad-tenant"),
    ):
        resp = await public.post("/v1/sessions", json=body)
        assert resp.status == status and (await resp.json())["error"] == error
    resp = await public.post("/v1/sessions", data=b"[1,2]")
    assert resp.status == 400 and (await resp.json())["error"] == "bad-json"


async def test_only_the_tenants_own_sites_may_use_it(public: TestClient, rt: Runtime) -> None:
    await _allow(rt, "acme", SHOP)
    token = (await new_session(public))["token"]
    auth = {"Authorization": f"Bearer {token}"}

    foreign = await public.post("/v1/sessions", headers={"Origin": EVIL},
                                json={"tenant": "acme", "page_url": "http://a.example/"})
    assert foreign.status == 403 and (await foreign.json())["error"] == "bad-origin"
    assert "Access-Control-Allow-Origin" not in foreign.headers
    wait = await public.get("/v1/wait?medium=chat", headers={**auth, "Origin": EVIL})
    assert wait.status == 403 and "Access-Control-Allow-Origin" not in wait.headers
    ws = await public.get(f"/v1/chat/ws?token={token}", headers={**WS_HEADERS, "Origin": EVIL})
    assert ws.status == 403 and (await ws.json())["error"] == "bad-origin"
    # globex's site is not acme's: its origin is foreign to acme.
    await _allow(rt, "globex", "https://www.globex.example")
    cross = await public.get("/v1/wait?medium=chat",
                             headers={**auth, "Origin": "https://www.globex.example"})
    assert cross.status == 403

    ok = await public.post("/v1/sessions", headers={"Origin": SHOP},
                           json={"tenant": "acme", "page_url": f"{SHOP}/plans"})
    assert ok.status == 201
    assert ok.headers["Access-Control-Allow-Origin"] == SHOP and ok.headers["Vary"] == "Origin"
    wait = await public.get("/v1/wait?medium=chat", headers={**auth, "Origin": SHOP})
    assert wait.status == 200 and wait.headers["Access-Control-Allow-Origin"] == SHOP
    preflight = await public.options("/v1/callbacks", headers={
        "Origin": SHOP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


async def test_expired_and_forged_tokens_are_refused(public: TestClient, rt: Runtime,
                                                    monkeypatch: Any) -> None:
    acme = (await new_session(public))["session_id"]
    forged, _ = CustomerTokens("another-secret").issue(1, acme)
    with monkeypatch.context() as m:  # signed three hours ago
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3 * 3600)
        expired, _ = rt.tokens.issue(1, acme)
    for token, error in ((forged, "bad-token"), (expired, "token-expired"), ("", "token-required")):
        resp = await public.get("/v1/wait?medium=chat", headers={
            "Authorization": f"Bearer {token}", "Origin": SHOP})
        assert resp.status == 401 and (await resp.json())["error"] == error, token
        # The page may read why (to start a new session): no tenant data in the answer.
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP
        ws = await public.get(f"/v1/chat/ws?token={token}", headers=WS_HEADERS)
        assert ws.status == 401 and (await ws.json())["error"] == error
    # A reload with the expired token starts a new session.
    fresh = await new_session(public, token=expired)
    assert fresh["session_id"] != acme


async def test_creating_sessions_is_rate_limited_per_address(public: TestClient) -> None:
    statuses = []
    for _ in range(21):
        resp = await public.post("/v1/sessions", json={"tenant": "acme",
                                                       "page_url": "http://a.example/"})
        statuses.append(resp.status)
    assert statuses[:20] == [201] * 20
    assert statuses[20] == 429
    assert (await resp.json())["error"] == "rate-limited"


async def test_anticipated_wait_follows_the_staffing(public: TestClient, rt: Runtime,
                                                   agents: Any) -> None:
    auth = {"Authorization": f"Bearer {(await new_session(public))['token']}"}

    async def wait(query: str) -> dict[str, Any]:
        resp = await public.get(f"/v1/wait?{query}", headers=auth)
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.json()

    nobody = await wait("medium=chat&topic=sales")
    assert nobody["anticipated_wait_s"] is None and nobody["eligible_agents"] == 0
    await agents("acme", "alice")  # sales, 3 chat slots, all free
    now = await wait("medium=chat&topic=sales")
    assert now["anticipated_wait_s"] == 0 and now["available_agents"] == 1
    assert (await wait("medium=chat&topic=support"))["anticipated_wait_s"] is None
    assert (await wait("medium=email"))["eligible_agents"] == 1
    # Agents have no callback slots in the demo: their phones (voice slots) serve callbacks.
    assert (await wait("medium=callback"))["available_agents"] == 1
    bad = await public.get("/v1/wait?medium=fax", headers=auth)
    assert bad.status == 400 and (await bad.json())["error"] == "bad-medium"
    bad = await public.get("/v1/wait?medium=chat&topic=plumbing", headers=auth)
    assert bad.status == 400 and (await bad.json())["error"] == "bad-topic"


async def test_widget_files_are_served_for_embedding(public: TestClient) -> None:
    js = await public.get("/widget.js")
    assert js.status == 200
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert js.headers["Cache-Control"] == "public, max-age=300"
    assert js.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    body = await js.text()
    assert "data-tenant" in body and "innerHTML" not in body and "eval(" not in body
    again = await public.get("/widget.js", headers={"If-None-Match": js.headers["ETag"]})
    assert again.status == 304
    css = await public.get("/widget.css")
    assert css.status == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"


async def test_demo_site_pages_embed_the_widget(public: TestClient) -> None:
    for path in ("/demo/acme/", "/demo/acme/page2"):
        resp = await public.get(path)
        assert resp.status == 200, path
        html = await resp.text()
        assert '<script src="/widget.js" data-tenant="acme" defer></script>' in html
        assert "<form" in html and "Acme Broadband" in html
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    escaped = await (await public.get("/demo/acme/?q=<b>x</b>")).text()
    assert "&lt;b&gt;x&lt;/b&gt;" in escaped and "<b>x</b>" not in escaped
    assert (await public.get("/demo/nope/")).status == 404
    assert (await public.get("/demo/acme/page3")).status == 404
    assert (await public.get("/demo-assets/site.css")).status == 200
