"""A tenant's routing settings: ``GET|PUT /api/tenants/{tenant}/routing``.

``{"blend_hold_s": 30}``: fair blending, the seconds a call waits before the agents who
could take it and also take chats or e-mails get no new ones until it is placed (0: off;
``null``: the node's ``routing.blend_hold_s``). The answer also gives ``effective_blend_hold_s``.
Stored (and audited) first, then applied to this node's router; another node applies it
when it next starts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ccari import keys
from ccari.provisioning import schemas as sch
from ccari.provisioning.fields import Fields
from ccari.provisioning.http import PROVISIONING, TENANT, _body, _scope

routes = web.RouteTableDef()
MAX_HOLD_S = 86400.0


def hold(data: Any) -> float | None:
    """The body's ``blend_hold_s``: seconds from 0 to a day, or null (the default)."""
    f = Fields(data, "", {"blend_hold_s"})
    if "blend_hold_s" not in f.data:
        raise sch.Invalid("blend_hold_s is required (a number of seconds, 0 = off, or null)")
    if f.data["blend_hold_s"] is None:
        return None
    return float(f.number("blend_hold_s", 0.0, 0.0, MAX_HOLD_S))


def _view(request: web.Request, own: float | None) -> dict[str, Any]:
    default = request.app[keys.QUEUE].router.rules.hold_after
    return {"blend_hold_s": own, "effective_blend_hold_s": default if own is None else own}


@routes.get(TENANT + "/routing")
async def get_routing(request: web.Request) -> web.Response:
    scope = await _scope(request)
    own = await request.app[PROVISIONING].blend_hold(scope.tenant_id)
    return web.json_response({"routing": _view(request, own)})


@routes.put(TENANT + "/routing")
async def put_routing(request: web.Request) -> web.Response:
    scope = await _scope(request)
    seconds = hold(await _body(request))
    await request.app[PROVISIONING].put_blend_hold(scope.actor, scope.tenant_id, seconds)
    await request.app[keys.QUEUE].set_blend_hold(scope.tenant_id, seconds)
    return web.json_response({"routing": _view(request, seconds)})


def internal_setup(app: web.Application) -> None:
    app.add_routes(routes)
