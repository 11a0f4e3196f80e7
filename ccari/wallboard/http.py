"""The wallboard's page, JSON API and websocket (internal listener; supervisors of the tenant).

``GET /supervisor/wallboard`` the page (a wall screen: large figures, dark);
``GET /supervisor/api/wallboard`` the tenant's figures (per medium and skill, then ``all``;
the agents by state with their time in it); ``PUT /supervisor/api/wallboard/settings``
{service_level_s} the tenant's service level threshold (CSRF token in ``X-CSRF-Token``);
``GET /supervisor/wallboard/ws`` the same figures pushed every ``wallboard.push_every_s``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import WSMsgType, web

from ccari import keys
from ccari.agents.access import check_csrf_header, signed_in, supervisor_of
from ccari.errors import BadRequest, Forbidden, NotFound
from ccari.storage.models import Tenant
from ccari.wallboard.services import Wallboard
from ccari.web.bodies import json_object
from ccari.web.middlewares import same_origin
from ccari.web.pages import render

routes = web.RouteTableDef()
WALLBOARD: web.AppKey[Wallboard] = web.AppKey("wallboard")


def internal_setup(wallboard: Wallboard) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app.add_routes(routes)
        app[WALLBOARD] = wallboard

    return setup


@routes.get("/supervisor/wallboard")
async def page(request: web.Request) -> web.Response:
    if await signed_in(request) is None:
        raise web.HTTPSeeOther("/agent/login")
    sess, agent, tenant = await supervisor_of(request)
    return render("wallboard.html", agent=agent, tenant=tenant, csrf=sess.csrf)


@routes.get("/supervisor/api/wallboard")
async def figures(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    return web.json_response(request.app[WALLBOARD].figures(tenant.id))


@routes.put("/supervisor/api/wallboard/settings")
async def settings(request: web.Request) -> web.Response:
    sess, _, tenant = await supervisor_of(request)
    check_csrf_header(request, sess)
    value = (await json_object(request)).get("service_level_s")
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or not 1 <= value <= 3600):
        raise BadRequest("service_level_s must be a number of seconds from 1 to 3600",
                         error_id="bad-service-level")
    async with request.app[keys.SESSIONS]() as s:
        row = await s.get(Tenant, tenant.id)
        if row is None:
            raise NotFound("no such tenant", error_id="tenant-not-found")
        row.service_level_s = float(value)
        await s.commit()
    await request.app[WALLBOARD].refresh()
    return web.json_response({"service_level_s": float(value)})


@routes.get("/supervisor/wallboard/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    if not same_origin(request):
        raise Forbidden("cross-origin websocket refused", error_id="bad-origin")
    sess, _, tenant = await supervisor_of(request)
    wallboard = request.app[WALLBOARD]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    wallboard.add(tenant.id, ws)
    try:
        async with request.app[keys.PAGE_SESSIONS].holding(sess, ws):
            await ws.send_json({"type": "wallboard", **wallboard.figures(tenant.id)})
            async for msg in ws:  # the page only listens
                if msg.type == WSMsgType.ERROR:
                    break
    finally:
        wallboard.remove(tenant.id, ws)
    return ws
