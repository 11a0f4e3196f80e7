"""The public and internal listeners, kept apart: exhaustive checks over every route.

Each check walks the routers of the apps as the composition root builds them, with every
context plugged in, so a route any context adds later is checked too:

* no route of the internal app answers on the public listener;
* a state-changing internal request authorised by the agent's session cookie alone (no
  CSRF token, no bearer token) never succeeds;
* no websocket on either listener opens for a page of a foreign origin;
* every HTML page carries a CSP without inline or foreign scripts.
"""

from __future__ import annotations

import json
import re

import aiohttp
from aiohttp import hdrs, web

from ccari.web.openapi import document
from tests.cobrowse.conftest import Env, offered_contact

# Served on both listeners on purpose (no data behind them).
SHARED = {"/healthz"}
EVIL = "https://evil.test"
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def concrete(path: str, value: str) -> str:
    """A URL for a route pattern: each ``{name}`` / ``{name:regex}`` becomes ``value``."""
    return re.sub(r"\{[^{}]+(\{[^{}]*\}[^{}]*)*\}", value, path)


def routes(app: web.Application, value: str = "x") -> list[tuple[str, str]]:
    """(method, URL) for every route of ``app``; the static files' route gets a real file."""
    out = []
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if str(path).startswith("/static/"):
            out.append(("GET", "/static/agent.js"))
            continue
        for route in resource:
            if route.method != hdrs.METH_HEAD:
                out.append((route.method, concrete(str(path), value)))
    return sorted(set(out))


async def test_no_internal_route_answers_on_the_public_listener(env: Env) -> None:
    internal = routes(env.internal.app)
    paths = {p for _, p in internal}
    # Every context's internal routes are in the walk (agents, admin API, co-browse...).
    assert {"/agent", "/agent/ws", "/api/contacts", "/agent/cobrowse/ws", "/agent/cobrowse/x",
            "/api/cobrowse/settings", "/api/entitlements/source", "/static/agent.js"} <= paths
    admin = {"Authorization": f"Bearer {env.rt.config.admin_token}"}
    served = []
    async with aiohttp.ClientSession(env.public_url, headers=admin) as http:
        for method, path in internal:
            for url in {path, path + "?tenant=acme"}:
                resp = await http.request(method, url, allow_redirects=False)
                body = await resp.read()
                if path in SHARED:
                    assert resp.status == 200 and body == b'{"status": "ok"}'
                elif path == "/openapi.json":  # each listener its own document
                    assert resp.status == 200 and json.loads(body) == document("public")
                elif resp.status not in (404, 405):
                    served.append((method, url, resp.status))
    assert served == [], f"internal routes served on the public listener: {served}"


async def test_a_session_cookie_alone_never_changes_anything(env: Env) -> None:
    alice = await env.agent("alice")
    contact_id = await offered_contact(env, alice)
    writes = [(m, p) for m, p in routes(env.internal.app, contact_id) if m not in ("GET", "OPTIONS")]
    assert ("POST", "/agent/logout") in writes and ("PUT", "/api/cobrowse/settings") in writes
    accepted = []
    for method, path in writes:
        for body in ({"data": {"tenant": "acme"}}, {"json": {"mask_selector": "x"}}):
            # A cross-site form post rides on the cookie but cannot read or send the CSRF token.
            resp = await alice.http.request(method, path, allow_redirects=False,
                                            headers={"Origin": EVIL}, **body)  # type: ignore[arg-type]
            await resp.read()
            if resp.status < 400:
                accepted.append((method, path, resp.status))
    assert accepted == [], f"requests accepted without a CSRF or bearer token: {accepted}"
    # The agent is still logged in: the logout above was refused.
    assert (await alice.http.get("/agent", allow_redirects=False)).status == 200
    await alice.close()


async def test_no_websocket_opens_for_a_foreign_origin(env: Env) -> None:
    alice = await env.agent("alice")
    contact_id = await offered_contact(env, alice)
    opened = []
    for method, path in routes(env.internal.app, contact_id):
        if method == "GET":
            sep = "&" if "?" in path else "?"
            resp = await alice.http.get(f"{path}{sep}contact={contact_id}",
                                        headers={**UPGRADE, "Origin": EVIL}, allow_redirects=False)
            if resp.status == 101:
                opened.append(("internal", path))
            resp.close()
    token = env.token()
    async with aiohttp.ClientSession(env.public_url) as http:
        for method, path in routes(env.public.app, "acme"):
            if method == "GET":
                resp = await http.get(path, params={"token": token},
                                      headers={**UPGRADE, "Origin": EVIL}, allow_redirects=False)
                if resp.status == 101:
                    opened.append(("public", path))
                resp.close()
    assert opened == []
    # The same requests from the right origin do open (the check above can fail).
    ok = await alice.http.ws_connect("/agent/ws", headers={"Origin": env.internal_url})
    await ok.close()
    await alice.close()


async def test_every_html_page_sends_a_strict_script_policy(env: Env) -> None:
    alice = await env.agent("alice")
    contact_id = await offered_contact(env, alice)
    pages = []
    for method, path in routes(env.internal.app, contact_id):
        if method == "GET":
            resp = await alice.http.get(path, allow_redirects=False)
            pages.append((path, resp.headers.get("Content-Type", ""), resp.headers))
            resp.close()
    async with aiohttp.ClientSession(env.public_url) as http:
        for method, path in routes(env.public.app, "acme"):
            if method == "GET":
                resp = await http.get(path, allow_redirects=False)
                pages.append((path, resp.headers.get("Content-Type", ""), resp.headers))
                resp.close()
    html = [(p, h) for p, ctype, h in pages if ctype.startswith("text/html")]
    assert any(p == "/agent" for p, _ in html) and any(p.startswith("/agent/cobrowse/") for p, _ in html)
    for path, headers in html:
        policy = headers["Content-Security-Policy"].split(";")
        csp = dict(d.strip().split(" ", 1) for d in policy if d.strip())
        script = csp.get("script-src", csp.get("default-src", ""))
        assert script == "'self'", (path, csp)
        assert "frame-ancestors" in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
    await alice.close()


async def test_error_and_redirect_responses_carry_the_security_headers_too(env: Env) -> None:
    missing = []
    async with aiohttp.ClientSession() as http:
        for base, app in ((env.internal_url, env.internal.app), (env.public_url, env.public.app)):
            for method, path in routes(app):
                resp = await http.request(method, base + path, allow_redirects=False)
                if resp.headers.get("X-Content-Type-Options") != "nosniff":
                    missing.append((method, path, resp.status))
                resp.close()
    assert missing == []
