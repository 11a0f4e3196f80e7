"""The agent's pages: login (CSRF-protected form), the live page and its websocket."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.agents import repo
from ccari.agents.access import COOKIE, agent_of, signed_in
from ccari.agents.commands import Command
from ccari.agents.devices import WS_PATH, credentials
from ccari.agents.webphone import WebPhones
from ccari.contacts import repo as contacts_repo
from ccari.contacts.services import QueueService
from ccari.errors import BadRequest, Forbidden, NotFound
from ccari.storage.models import Agent
from ccari.web.bodies import json_object, read_form
from ccari.web.middlewares import same_origin
from ccari.web.pages import STATIC, render
from ccari.web.security import check_csrf, verify_password
from ccari.web.sockets import json_objects

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
LOGIN_CSRF = "ccari_login_csrf"
PRESENCES = {"ready", "not_ready"}
WEBPHONES: web.AppKey[WebPhones] = web.AppKey("webphones")


def internal_setup(webphones: WebPhones) -> Callable[[web.Application], None]:
    """The agent's pages; ``/`` leads to them; ``/static`` serves the pages' files."""

    def setup(app: web.Application) -> None:
        app[WEBPHONES] = webphones
        app.add_routes(routes)
        app.router.add_get("/", _to_agent)
        app.router.add_get("/static/{filename:.+}", _static_files())

    return setup


def _static_files() -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """``/static/<name>``: the files the package ships, known at start-up (a name that is
    none of them is 404 without touching the file system)."""
    files = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}

    async def serve(request: web.Request) -> web.FileResponse:
        path = files.get(request.match_info["filename"])
        if path is None:
            raise NotFound("no such file", error_id="not-found")
        return web.FileResponse(path)

    return serve


async def _to_agent(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/agent")


def presence_command(queue: QueueService) -> Command:
    """``{"type": "presence", "presence": "ready" | "not_ready"}`` from the page's buttons."""

    async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any] | None:
        presence = msg.get("presence")
        if not isinstance(presence, str) or presence not in PRESENCES:
            raise BadRequest("presence must be ready or not_ready", error_id="bad-presence")
        await queue.set_presence(agent, presence)
        return None  # the queue pushes the new state to every page of the agent

    return handler


@routes.get("/agent/login")
async def login_form(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(16)
    resp = render("login.html", csrf=token, tenant="", username="", error=None)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="Strict")
    return resp


@routes.post("/agent/login")
async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    check_csrf(request.cookies.get(LOGIN_CSRF), form.get("csrf"))
    tenant_slug, username = str(form.get("tenant", "")), str(form.get("username", ""))
    async with request.app[keys.SESSIONS]() as s:
        agent = await repo.by_login(s, tenant_slug, username)
    if agent is None or not verify_password(str(form.get("password", "")), agent.password_hash):
        token = secrets.token_urlsafe(16)
        resp = render("login.html", status=401, csrf=token, tenant=tenant_slug,
                      username=username, error="Wrong tenant, username or password.")
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="Strict")
        return resp
    if agent.presence == "logged_out":
        await request.app[keys.QUEUE].set_presence(agent, "not_ready")
    await request.app[WEBPHONES].new_password(agent)  # a browser phone's, for this login
    log.info("agent %s of tenant %s logged in", agent.id, agent.tenant_id)
    resp = web.HTTPSeeOther("/agent")
    max_age = request.app[keys.CONFIG].web.session_max_age_s
    cookie = request.app[keys.SIGNER].dump(agent.id, agent.tenant_id, agent.session_epoch)
    resp.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", max_age=max_age)
    resp.del_cookie(LOGIN_CSRF)
    raise resp


@routes.get("/agent")
async def page(request: web.Request) -> web.Response:
    found = await signed_in(request)
    if found is None:
        raise web.HTTPSeeOther("/agent/login")
    sess, agent, tenant = found
    queue = request.app[keys.QUEUE]
    state, reason = queue.agent_state(agent.id), queue.agent_reason(agent.id)
    phone_ok = queue.phone_reachable(agent.id)
    return render("agent.html", agent=agent, tenant=tenant, state=state, reason=reason,
                  browser_phone=agent.device == "browser",
                  csrf=sess.csrf, phone_reachable=phone_ok,
                  dispositions=request.app[keys.CONFIG].voice.dispositions_of(
                      tenant.slug, tenant.dispositions),
                  plugins=request.app[keys.AGENT_SCRIPTS])


@routes.post("/agent/logout")
async def logout(request: web.Request) -> web.Response:
    found = await signed_in(request)
    if found is None:
        raise web.HTTPSeeOther("/agent/login")
    sess, agent, _ = found
    form = await read_form(request)
    check_csrf(sess.csrf, form.get("csrf"))
    await request.app[keys.QUEUE].set_presence(agent, "logged_out")
    async with request.app[keys.SESSIONS]() as s:  # this cookie, and any copy, is done
        await repo.end_sessions(s, agent.tenant_id, agent.id)
        await s.commit()
    await request.app[keys.PAGE_SESSIONS].end(agent.id)  # her open pages go to the login
    await request.app[WEBPHONES].new_password(agent)  # the page's one dies with the login
    resp = web.HTTPSeeOther("/agent/login")
    resp.del_cookie(COOKIE)
    raise resp


@routes.get("/agent/api/phone")
async def phone(request: web.Request) -> web.Response:
    """How the page registers its phone (a browser agent's SIP password of this login);
    the session cookie and its CSRF token in ``X-CSRF-Token``; never cached."""
    sess, agent, _ = await agent_of(request)
    check_csrf(sess.csrf, request.headers.get("X-CSRF-Token"))
    resp = web.json_response(credentials(agent.device, agent.phone_username,
                                         agent.phone_password))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@routes.get(WS_PATH)
async def phone_socket(request: web.Request) -> web.WebSocketResponse:
    """The browser phone's SIP websocket, relayed to Asterisk's (browser agents only)."""
    if not same_origin(request):
        raise Forbidden("cross-origin websocket refused", error_id="bad-origin")
    _, agent, _ = await agent_of(request)
    if agent.device != "browser":
        raise Forbidden("this agent answers calls on a SIP phone", error_id="not-a-browser-phone")
    return await request.app[WEBPHONES].relay(request, agent)


CALL_ACTIONS = {"hold", "resume", "mute", "unmute", "hangup", "transfer", "wrap_up",
                "record", "record_stop", "record_pause", "record_resume", "consult",
                "consult_complete", "consult_cancel", "consult_conference", "conference_add",
                "conference_list", "conference_mute", "conference_unmute", "conference_remove",
                "conference_leave"}


@routes.post("/agent/api/calls/{contact_id}/{action}")
async def call_action(request: web.Request) -> web.Response:
    """The page's call controls over REST, the same commands as the websocket's ``call.*``:
    the agent's session cookie and its CSRF token in ``X-CSRF-Token``; a JSON body for the
    command's other fields (``skill``, ``disposition``, ``note``)."""
    sess, agent, _ = await agent_of(request)
    check_csrf(sess.csrf, request.headers.get("X-CSRF-Token"))
    action = request.match_info["action"]
    if action not in CALL_ACTIONS:
        raise NotFound(f"no call action {action!r}", error_id="unknown-action")
    body: dict[str, Any] = await json_object(request) if request.can_read_body else {}
    contact_id = request.match_info["contact_id"]
    async with request.app[keys.SESSIONS]() as s:  # another tenant's contact: 404, first
        if await contacts_repo.get(s, contact_id, agent.tenant_id) is None:
            raise NotFound("no such contact", error_id="contact-not-found")
    message = {**body, "type": f"call.{action}", "contact_id": contact_id}
    reply = await request.app[keys.COMMANDS].run(agent, message)
    return web.json_response(reply or {})


@routes.get("/agent/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    if not same_origin(request):
        raise Forbidden("cross-origin websocket refused", error_id="bad-origin")
    sess, agent, _ = await agent_of(request)
    queue, hub = request.app[keys.QUEUE], request.app[keys.HUB]
    commands = request.app[keys.COMMANDS]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
    await ws.prepare(request)
    hub.add(agent.id, ws)
    try:
        async with request.app[keys.PAGE_SESSIONS].holding(sess, ws):
            await ws.send_json({"type": "hello", "state": queue.agent_state(agent.id),
                                "reason": queue.agent_reason(agent.id),
                                "phone_reachable": queue.phone_reachable(agent.id)})
            async for data in json_objects(ws):
                reply = await commands.dispatch(agent, data)
                if reply is not None:
                    await ws.send_json(reply)
    finally:
        hub.remove(agent.id, ws)
    return ws
