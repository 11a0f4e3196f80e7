"""Co-browse over HTTP: the customer's capture socket (public listener), the agent's mirror
page and socket, the tenant's settings (internal listener)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.agents.access import agent_of, signed_in
from ccari.cobrowse import repo
from ccari.cobrowse.core import BASE_MASK, mirror_csp
from ccari.cobrowse.models import CobrowseSettings
from ccari.cobrowse.services import CobrowseService
from ccari.errors import BadRequest, CcariError, Forbidden, Invalid, TooManyRequests
from ccari.storage.models import Agent
from ccari.web.bodies import json_object, parse_json
from ccari.web.middlewares import same_origin
from ccari.web.pages import STATIC
from ccari.web.sockets import json_objects

log = logging.getLogger(__name__)
SERVICE: web.AppKey[CobrowseService] = web.AppKey("cobrowse")
VENDOR = STATIC / "vendor" / "rrweb"
_pages = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                     autoescape=select_autoescape(default=True))


# ---- public listener --------------------------------------------------------------------------
def _script(path: Path, max_age: int) -> web.FileResponse:
    resp = web.FileResponse(path, headers={
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": f"public, max-age={max_age}",
        # Loaded by the tenant's own sites, which may isolate themselves (COEP).
        "Cross-Origin-Resource-Policy": "cross-origin"})
    return resp


async def capture_script(request: web.Request) -> web.FileResponse:
    return _script(STATIC / "cobrowse.js", 300)


async def rrweb_script(request: web.Request) -> web.FileResponse:
    return _script(VENDOR / "rrweb.min.js", 86400)


def request_type(text: str) -> str | None:
    """The type a refused message said it was, for the page to match the error to it."""
    try:
        data = parse_json(text)
    except BadRequest:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


async def customer_ws(request: web.Request) -> web.WebSocketResponse:
    """``/v1/cobrowse/ws?token=<customer token>[&session=<id to resume>]``."""
    svc = request.app[SERVICE]
    cs = request.app[keys.TOKENS].verify(request.query.get("token"))
    origin = await request.app[keys.ORIGINS].check(request, cs.tenant_id)
    row, settings = await svc.open(cs, request.query.get("session") or None, origin)
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=svc.limits.max_message_bytes)
    await ws.prepare(request)
    if row.state == "ended":
        await ws.send_json({"type": "ended", "reason": row.end_reason or "ended"})
        await ws.close()
        return ws
    live = await svc.attach_customer(row, ws)
    mask = ", ".join(x for x in (BASE_MASK, settings.mask_selector if settings else "") if x)
    await ws.send_json({"type": "hello", "session": row.id, "code": row.code, "state": row.state,
                        "consent": row.consent, "mask": mask, "origins": sorted(live.origins)})
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                await svc.from_customer(live, msg.data)
            except TooManyRequests as exc:
                await ws.send_json({"type": "error", "error": exc.error_id})
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"rate limited")
                break
            except CcariError as exc:
                await ws.send_json({"type": "error", "error": exc.error_id, "message": exc.message,
                                    "request": request_type(msg.data)})
    finally:
        await svc.detach_customer(live, ws)
    return ws


def public_setup(svc: CobrowseService) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = svc
        app.router.add_get("/cobrowse.js", capture_script)
        app.router.add_get("/vendor/rrweb.min.js", rrweb_script)
        app.router.add_get("/v1/cobrowse/ws", customer_ws)

    return setup


# ---- internal listener --------------------------------------------------------------------------
async def _agent(request: web.Request) -> Agent | None:
    found = await signed_in(request)
    return found[1] if found is not None else None


async def mirror_page(request: web.Request) -> web.Response:
    agent = await _agent(request)
    if agent is None:
        raise web.HTTPSeeOther("/agent/login")
    contact_id = request.match_info["contact_id"]
    row = await request.app[SERVICE].session_of(agent, contact_id)
    origins = set(await request.app[keys.ORIGINS].allowed(agent.tenant_id))
    if row is not None and row.origin:
        origins.add(row.origin)
    html = _pages.get_template("mirror.html").render(contact_id=contact_id, linked=row is not None)
    resp = web.Response(text=html, content_type="text/html")
    resp.headers["Content-Security-Policy"] = mirror_csp(origins)
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def mirror_ws(request: web.Request) -> web.WebSocketResponse:
    """``/agent/cobrowse/ws?contact=<id>``: the customer's rrweb events, live."""
    if not same_origin(request):
        raise Forbidden("cross-origin websocket refused", error_id="bad-origin")
    sess, agent, _ = await agent_of(request)
    svc = request.app[SERVICE]
    contact_id = request.query.get("contact", "")
    if await svc.session_of(agent, contact_id) is None:
        raise Forbidden("no co-browse session on this contact", error_id="cobrowse-not-linked")
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=16 * 1024)
    await ws.prepare(request)
    try:
        live = await svc.watch(agent, contact_id, ws)
    except CcariError as exc:
        await ws.send_json({"type": "error", "error": exc.error_id, "message": exc.message})
        await ws.close()
        return ws
    try:
        async with request.app[keys.PAGE_SESSIONS].holding(sess, ws):
            await ws.send_json(live.status())
            async for data in json_objects(ws):
                try:
                    reply = await svc.from_agent(live, data)
                except CcariError as exc:
                    reply = {"type": "error", "error": exc.error_id, "message": exc.message,
                             "request": data.get("type")}
                if reply is not None and not ws.closed:
                    await ws.send_json(reply)
    finally:
        await svc.unwatch(live, ws)
    return ws


def settings_json(row: CobrowseSettings | None) -> dict[str, Any]:
    return {"mask_selector": row.mask_selector if row else "",
            "code_ttl_s": row.code_ttl_s if row else 600, "always_masked": BASE_MASK}


async def get_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        return web.json_response(settings_json(await repo.settings(s, tenant_id)))


async def put_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    body = await json_object(request)
    unknown = set(body) - {"mask_selector", "code_ttl_s"}
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}", error_id="unknown-field")
    async with request.app[keys.SESSIONS]() as s:
        row = await repo.settings(s, tenant_id)
        if row is None:
            row = CobrowseSettings(tenant_id=tenant_id, mask_selector="", code_ttl_s=600)
            s.add(row)
        if "mask_selector" in body:
            sel = body["mask_selector"]
            if not isinstance(sel, str) or len(sel) > 500 or any(c in sel for c in "{}<;\\"):
                raise BadRequest("mask_selector must be a CSS selector", error_id="bad-mask-selector")
            row.mask_selector = sel.strip()
        if "code_ttl_s" in body:
            ttl = body["code_ttl_s"]
            if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= 3600:
                raise BadRequest("code_ttl_s must be 60..3600", error_id="bad-code-ttl")
            row.code_ttl_s = ttl
        await s.commit()
    return web.json_response(settings_json(row))


def internal_setup(svc: CobrowseService) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = svc
        app.router.add_get("/agent/cobrowse/ws", mirror_ws)
        app.router.add_get("/agent/cobrowse/{contact_id}", mirror_page)
        app.router.add_get("/api/cobrowse/settings", get_settings)
        app.router.add_put("/api/cobrowse/settings", put_settings)

    return setup
