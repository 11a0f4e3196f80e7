"""The customer-facing API (public listener), versioned under ``/v1/``, and the widget files.

* ``POST /v1/sessions`` {tenant, page_url, token?} -> {token, expires_in, session_id, topics,
  talk_now, video_call}: a customer session (a valid ``token`` of the same tenant keeps its
  session id: a reload keeps the conversation).  ``video_call``: talk now is offered and a
  staffed agent can take a video call now (a yes or no, nothing about the agents).
* ``GET /v1/wait?medium=chat|callback|email[&topic=sales]`` -> the anticipated wait of a new
  request (see :mod:`ccari.public.waits`).
* ``GET /widget.js``, ``GET /widget.css``: the embeddable widget.

Every ``/v1/`` request is checked against the tenant's allowed origins (403 ``bad-origin``)
and answered with CORS headers for that origin only.  Preflights name no tenant: they are
answered for any origin and grant nothing by themselves (the request itself is checked).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.errors import BadRequest, NotFound, Unauthorized
from ccari.public import pages
from ccari.public import repo as public_repo
from ccari.public.origins import cors
from ccari.public.ratelimit import Limiters
from ccari.public.tokens import CustomerSession
from ccari.public.waits import Anticipated, anticipated_wait, can_take
from ccari.routing import Medium
from ccari.tenants import repo as tenants_repo
from ccari.web.bodies import json_object
from ccari.web.pages import STATIC

LIMITERS: web.AppKey[Limiters] = web.AppKey("public_limiters")
CORS_ORIGIN: web.RequestKey[str] = web.RequestKey("cors_origin", str)
WIDGET_FILES = {"widget.js": "text/javascript", "widget.css": "text/css"}
# What a request of each medium is served by, in order: a callback is a phone call, so
# where the agents have no callback slots their voice slots serve it.
WAIT_MEDIA = {"chat": (Medium.CHAT,), "email": (Medium.EMAIL,),
              "callback": (Medium.CALLBACK, Medium.VOICE)}
MAX_URL = 2000


def public_setup(limiters: Limiters) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[LIMITERS] = limiters
        app.on_response_prepare.append(_cors_headers)
        app.router.add_route("OPTIONS", "/v1/{tail:.*}", preflight)
        app.router.add_post("/v1/sessions", create_session)
        app.router.add_get("/v1/wait", wait)
        for name in WIDGET_FILES:
            app.router.add_get(f"/{name}", widget_file)
        pages.add_routes(app)

    return setup


# ---- helpers other public handlers use ----------------------------------------------------
async def customer(request: web.Request) -> CustomerSession:
    """The customer session of a ``/v1/`` request (bearer token, or ``?token=`` for
    websockets), its Origin checked against the tenant's sites."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = request.query.get("token", "")
    sess = request.app[keys.TOKENS].verify(token or None)
    await allow_origin(request, sess.tenant_id)
    return sess


async def allow_origin(request: web.Request, tenant_id: int) -> None:
    origin = await request.app[keys.ORIGINS].check(request, tenant_id)
    if origin is not None:
        request[CORS_ORIGIN] = origin


def page_url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) \
            or len(value) > MAX_URL:
        raise BadRequest("page_url must be the http(s) URL of the page", error_id="bad-page-url")
    return value


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    if not request.path.startswith("/v1/"):
        return
    origin = request.get(CORS_ORIGIN)
    if origin is None and response.status == 401:
        # Token problems happen before the tenant is known; the page must learn them to
        # start a new session.  These answers carry no tenant data.
        origin = request.headers.get("Origin")
    cors(response, origin)


# ---- handlers --------------------------------------------------------------------------
async def preflight(request: web.Request) -> web.Response:
    resp = web.Response(status=204)
    cors(resp, request.headers.get("Origin"))
    if "Access-Control-Allow-Origin" in resp.headers:
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Idempotency-Key"
        resp.headers["Access-Control-Max-Age"] = "600"
    return resp


async def create_session(request: web.Request) -> web.Response:
    request.app[LIMITERS].sessions_per_ip.check(client_ip(request), "new sessions")
    data = await json_object(request)
    slug = data.get("tenant")
    if not isinstance(slug, str) or not slug:
        raise BadRequest("name the tenant", error_id="bad-tenant")
    page_url(data.get("page_url"))
    async with request.app[keys.SESSIONS]() as s:
        tenant = await tenants_repo.by_slug(s, slug)
        if tenant is None:
            raise NotFound("no such tenant", error_id="tenant-not-found")
        topics = await public_repo.topics(s, tenant.id)
    await allow_origin(request, tenant.id)
    talk_now = await request.app[keys.ORIGINS].talk_now(tenant.id)
    tokens = request.app[keys.TOKENS]
    session_id = None
    old = data.get("token")
    if isinstance(old, str) and old:
        try:
            previous: CustomerSession | None = tokens.verify(old)
        except Unauthorized:  # expired or forged: a new session
            previous = None
        if previous is not None and previous.tenant_id == tenant.id:
            session_id = previous.session_id
    token, sess = tokens.issue(tenant.id, session_id)
    return web.json_response({"token": token, "expires_in": tokens.max_age_s,
                              "session_id": sess.session_id, "tenant": tenant.slug,
                              "tenant_name": tenant.name, "topics": topics,
                              "talk_now": talk_now, "video_call": talk_now and can_take(
                                  request.app[keys.QUEUE].router, tenant.id, Medium.VIDEO, {},
                                  time.time())},
                             status=201 if session_id is None else 200)


async def wait(request: web.Request) -> web.Response:
    sess = await customer(request)
    request.app[LIMITERS].wait_polls_per_session.check(sess.session_id, "wait requests")
    medium = request.query.get("medium", "chat")
    if medium not in WAIT_MEDIA:
        raise BadRequest("medium is chat, callback or email", error_id="bad-medium")
    topic = request.query.get("topic") or None
    attributes: dict[str, Any] = {}
    if topic is not None:
        async with request.app[keys.SESSIONS]() as s:
            if topic not in await public_repo.topics(s, sess.tenant_id):
                raise BadRequest("no such topic", error_id="bad-topic")
        attributes[public_repo.TOPIC_ATTRIBUTE] = topic
    router = request.app[keys.QUEUE].router
    now = time.time()
    found: Anticipated | None = None
    for m in WAIT_MEDIA[medium]:
        found = anticipated_wait(router, sess.tenant_id, m, attributes, now)
        if found.eligible_agents:
            break
    assert found is not None
    return web.json_response({**found.as_dict(), "medium": medium},
                             headers={"Cache-Control": "no-store"})


async def widget_file(request: web.Request) -> web.FileResponse:
    name = request.path.lstrip("/")
    return web.FileResponse(STATIC / name, headers={
        "Content-Type": f"{WIDGET_FILES[name]}; charset=utf-8",
        # Short: a new release reaches every site within minutes; ETag revalidates cheaply.
        "Cache-Control": "public, max-age=300",
        # Loaded by the tenants' own sites (another origin).
        "Cross-Origin-Resource-Policy": "cross-origin",
    })
