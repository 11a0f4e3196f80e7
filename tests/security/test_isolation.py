"""Tenant isolation, as a table generated from the OpenAPI documents.

Every operation of both listeners x every kind of credential (none, the admin token, acme's
API token, an acme agent's and supervisor's session, an acme customer token, the admin
pages' session of the admin token and of acme's token), aimed at
**globex**: each path parameter names globex's object of that kind (``tests/support/world.py``
gives both tenants one of every kind), ``?tenant=`` and ``?contact=`` name globex's.  A row is
held to one of these rules:

* ``refused``: 401, 403 or 404 (or, for a page, the redirect to the login form), a status the
  route documents (the conformance check of every test app sees to that);
* ``admin``: the admin token acts on every tenant by design (it is the operator's); the
  row must not be refused, which proves the ids of the other rows are real;
* ``any``: the admin pages' session of the admin token, every tenant's by design too (its
  forms change and delete with no more than the form token): only no server error;
* ``own``: the route names no tenant and no object (``GET /api/contacts``, ``GET /agent``):
  the credential's tenant is the scope, so the answer may be anything but globex's data;
* ``free``: holds no tenant's data at all, listed in :data:`FREE` with the reason.

Whatever the rule, no answer to an acme credential shows globex's data (:data:`MARKER` is in
every text of globex's objects; none of globex's ids may appear).  A route the table cannot
fill (a path parameter it has no object for) or a public route missing from :data:`FREE`
fails the test: a new route must be placed in the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from ccari.config import Config
from ccari.web.openapi import LISTENERS, Listener, document
from tests.support.world import MARKER, PDF, World, serving

KINDS = ("none", "admin", "tenant", "agent", "supervisor", "customer", "admin-page",
         "tenant-page")
SCHEME_KINDS = {"adminToken": {"admin"}, "tenantToken": {"tenant"},
                "adminSession": {"admin-page", "tenant-page"},
                "agentSession": {"agent", "supervisor"}, "customerToken": {"customer"},
                "customerTokenQuery": {"customer"}}
REFUSED = {401, 403, 404}
FREE = {  # (method, path) -> why the route is tenant-free
    ("GET", "/"): "redirects to the agent page",
    ("GET", "/healthz"): "liveness: {status: ok}",
    ("GET", "/openapi.json"): "the listener's API description",
    ("GET", "/static/{filename}"): "the pages' own scripts and styles",
    ("GET", "/agent/login"): "the login form; the credentials posted decide the tenant",
    ("GET", "/admin/login"): "the admin pages' login form; the token posted decides the tenant",
    ("POST", "/admin/login"): "the admin pages' login itself: a token",
    ("POST", "/agent/login"): "the login itself: tenant, username and password",
    ("GET", "/metrics"): "the operator's Prometheus figures (internal listener only)",
    ("GET", "/cobrowse.js"): "the co-browse script a tenant's site loads",
    ("GET", "/widget.js"): "the help widget script a tenant's site loads",
    ("GET", "/widget.css"): "the help widget's style",
    ("GET", "/vendor/rrweb.min.js"): "a vendored library",
    ("GET", "/talk/jssip.min.js"): "a vendored library (the widget's talk now)",
    ("GET", "/talk/talk.js"): "the widget's talk now script",
    ("GET", "/talk/video-watch.js"): "the widget's video call script",
    ("GET", "/v1/talk/ws"): "its credential is the ticket in the query (signed, one tenant's, "
                            "single-use; tests/talk refuses forged, expired and reused ones)",
    ("GET", "/demo-assets/site.css"): "the demo site's style",
    ("GET", "/demo/{tenant}"): "the demo site of a tenant, public by design",
    ("GET", "/demo/{tenant}/"): "the demo site of a tenant, public by design",
    ("GET", "/demo/{tenant}/{page}"): "the demo site of a tenant, public by design",
    ("POST", "/v1/sessions"): "starts a customer session for the tenant a site names "
                              "(public by design; the Origin is checked against its sites)",
    ("OPTIONS", "/v1/callbacks"): "a CORS preflight: names no tenant, grants nothing",
    ("OPTIONS", "/v1/callbacks/{id}"): "a CORS preflight: names no tenant, grants nothing",
    ("OPTIONS", "/v1/email"): "a CORS preflight: names no tenant, grants nothing",
    ("OPTIONS", "/v1/{tail}"): "a CORS preflight: names no tenant, grants nothing",
}
# Refusals other than 401/403/404, with the error id and why.
ALSO_REFUSED = {
    ("PUT", "/api/email/mailboxes/{address}"): (
        409, "address-taken", "an address is unique across tenants: taking another tenant's "
                              "is a conflict (nothing of the mailbox is shown)"),
}
# The routes that delete the whole tenant: run last.
TENANT_DELETIONS = {("DELETE", "/api/tenants/{tenant}"), ("POST", "/admin/tenants/{tenant}/delete")}
# Path parameters that name no tenant's object: what the table puts there.
NEUTRAL = {"filename": "ccari.css", "page": "page2", "tail": "chat", "action": "hold"}


@dataclass(frozen=True)
class Row:
    listener: Listener
    method: str
    path: str
    kind: str
    rule: str  # refused | admin | own | free
    url: str  # the path with globex's ids and the query
    body: bytes | None
    content_type: str | None


def operations() -> list[tuple[Listener, str, str, dict[str, Any]]]:
    return [(listener, method.upper(), path, op)
            for listener in LISTENERS for path, item in document(listener)["paths"].items()
            for method, op in item.items() if method != "parameters"]


def parameters(doc: dict[str, Any], path: str, op: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*doc["paths"][path].get("parameters", []), *op.get("parameters", [])]
    out = []
    for p in found:
        if "$ref" in p:
            p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        out.append(p)
    return out


def table(world: World, other: str = "globex") -> list[Row]:
    """The rows, generated from the documents; raises on a route the table cannot place.

    An operation with a ``?tenant=`` parameter gets its rows twice: naming globex, and
    naming no tenant (the credential's own scope) with the path still on globex's object."""
    rows: list[Row] = []
    ids = world.objects[other]
    for listener, method, path, op in operations():
        params = parameters(document(listener), path, op)
        url, in_path = path, False
        for p in (p for p in params if p["in"] == "path"):
            name = p["name"]
            value = NEUTRAL.get(name) if name in NEUTRAL else ids.ids(path).get(name)
            if value is None:
                raise AssertionError(f"{method} {path}: no {other} object for {{{name}}}")
            url = url.replace("{" + name + "}", value)
            in_path |= name not in NEUTRAL
        queries = {p["name"] for p in params if p["in"] == "query"} & {"tenant", "contact"}
        variants = [queries] + ([queries - {"tenant"}] if "tenant" in queries else [])
        schemes = {n for req in op.get("security", []) for n in req}
        accepted = set().union(*(SCHEME_KINDS[n] for n in schemes)) if schemes else set()
        free = (method, path) in FREE
        if not schemes and not free:
            raise AssertionError(f"{listener} {method} {path}: public, yet not in FREE")
        body, ctype = None, None
        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            body, ctype = b"{}", "application/json"
        elif "application/pdf" in content:
            body, ctype = PDF, "application/pdf"
        elif "application/x-www-form-urlencoded" in content:
            body, ctype = b"csrf=x", "application/x-www-form-urlencoded"
        for n, names in enumerate(variants):
            query = "&".join(f"{k}={ids.ids(path)[k]}" for k in sorted(names))
            target = url + ("?" + query if query else "")
            # ?contact= only filters the caller's own list: the leak check covers it.
            names_object = in_path or "tenant" in names
            for kind in KINDS:
                if n and kind in ("admin", "admin-page"):
                    continue  # the admin names the tenant it acts on
                if kind == "customer" and listener == "internal" or \
                        kind not in ("none", "customer") and listener == "public":
                    rule = "free" if free else "refused"  # another listener's credential
                elif free:
                    rule = "free"
                elif kind not in accepted:
                    rule = "refused"
                elif kind == "admin":
                    rule = "admin"
                elif kind == "admin-page":
                    rule = "any"  # every tenant's by design: only no server error
                else:
                    rule = "refused" if names_object else "own"
                rows.append(Row(listener, method, path, kind, rule, target, body, ctype))
    return rows


@pytest.fixture
async def served(cfg: Config, sessions: Any, aiohttp_server: Any) -> Any:
    async with serving(cfg, sessions, aiohttp_server) as found:
        yield found


def leaks(world: World, body: bytes, other: str = "globex") -> list[str]:
    text = body.decode("utf-8", "replace")
    theirs = world.objects[other]
    found = [MARKER] if MARKER in text else []
    for kind in ("contact", "callback", "fax", "fax_send", "recording", "voicemail"):
        if getattr(theirs, kind) in text:
            found.append(f"{other}'s {kind} id")
    return found


def refused(row: Row, status: int, headers: Any, body: bytes) -> bool:
    if status in REFUSED or status == 303 and headers.get("Location") in ("/agent/login",
                                                                          "/admin/login"):
        return True
    also = ALSO_REFUSED.get((row.method, row.path))
    return also is not None and (status, json.loads(body).get("error")) == also[:2]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_no_route_lets_a_credential_reach_another_tenants_objects(served: Any) -> None:
    world, urls = served
    # The admin's changes last (its deletes at the very end): every other row meets globex's
    # objects as they were made.
    # The admin pages' own changes after that (their forms delete with no more than a token),
    # and the deletion of the whole tenant after everything else.
    rows = sorted(table(world), key=lambda r: ((r.method, r.path) in TENANT_DELETIONS,
                                               r.kind == "admin-page", r.kind == "admin",
                                               r.method == "DELETE"))
    failures: list[str] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for row in rows:
            headers = world.headers(row.kind, "acme", urls["public"])
            url = urls[row.listener] + row.url
            if row.kind == "customer" and "token" not in url:  # websockets take it in the query
                url += ("&" if "?" in url else "?") + "token=" + world.credentials["acme"].customer_token
            body = row.body
            if row.content_type:
                headers = {**headers, "Content-Type": row.content_type}
                if row.content_type == "application/x-www-form-urlencoded":
                    # The session's own form token: a refusal is about the tenant, not CSRF.
                    body = f"csrf={world.csrf(row.kind, 'acme')}".encode()
            async with http.request(row.method, url, headers=headers, data=body,
                                    allow_redirects=False) as resp:
                body = await resp.read()
                status = resp.status
                what = f"{row.kind:10} {row.method} {row.url} -> {status} ({row.rule})"
                if row.kind not in ("admin", "admin-page") and (found := leaks(world, body)):
                    failures.append(f"{what}: shows {', '.join(found)}")
                if row.rule == "refused" and not refused(row, status, resp.headers, body):
                    failures.append(f"{what}: not refused: {body[:200]!r}")
                if row.rule == "admin" and status in (401, 403, 404):
                    failures.append(f"{what}: the admin token was refused: {body[:200]!r}")
                if status >= 500:
                    failures.append(f"{what}: server error")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.rule] = counts.get(row.rule, 0) + 1
    assert not failures, f"{len(failures)} of {len(rows)} rows fail:\n" + "\n".join(failures)
    assert counts["refused"] > 300 and counts["admin"] > 40, json.dumps(counts)


def test_every_public_route_is_in_the_table_or_listed_as_tenant_free() -> None:
    """FREE names only routes that exist and take no credential (a stale entry fails)."""
    public_ops = {(m, p) for _, m, p, op in operations() if not op.get("security")}
    assert sorted(set(FREE) - public_ops) == []
