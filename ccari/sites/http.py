"""The sites API (internal listener, bearer tokens as everywhere):

    GET /api/sites                             the token's tenant's sites: capacity, load now
    PUT /api/tenants/{tenant}/sites/{name}     {"wan_kbps": n | null}: a site's WAN capacity
                                               (kbit/s per direction; null: unlimited),
                                               creating the site if it has no agent yet

A tenant token acts on its own tenant only (``403 wrong-tenant``); the admin token names the
tenant (``?tenant=`` on the list).  422 ``invalid-capacity``, ``invalid-site-name``,
``unknown-field``; 400 ``bad-json``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ccari import keys
from ccari.admin.auth import principal, tenant_scope
from ccari.errors import Forbidden, NotFound
from ccari.sites import schemas
from ccari.sites.services import SiteBandwidth
from ccari.tenants import repo as tenants_repo
from ccari.web.bodies import json_object

SITES: web.AppKey[SiteBandwidth] = web.AppKey("sites", SiteBandwidth)


def internal_setup(sites: SiteBandwidth) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SITES] = sites
        app.router.add_get("/api/sites", list_sites)
        app.router.add_put("/api/tenants/{tenant}/sites/{name}", put_site)

    return setup


async def list_sites(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    sites = request.app[SITES]
    return web.json_response({
        "sites": await sites.sites(tenant_id),
        "lower_codec_at": sites.lower_at,
        "call_kbps": {name: sites.costs.kbps(name) for name in ("ulaw", "alaw", "gsm")},
    })


async def put_site(request: web.Request) -> web.Response:
    who = await principal(request)
    slug = request.match_info["tenant"]
    async with request.app[keys.SESSIONS]() as s:
        tenant = await tenants_repo.by_slug(s, slug)
    if tenant is None:
        if who.tenant_id is not None:  # a tenant token learns nothing of other tenants
            raise Forbidden("this token belongs to another tenant", error_id="wrong-tenant")
        raise NotFound("no such tenant", error_id="tenant-not-found")
    who.scope(tenant.id)
    name = schemas.site_name(request.match_info["name"])
    kbps = schemas.capacity(await json_object(request))
    actor = "admin" if who.tenant_id is None else f"tenant:{slug}"
    site = await request.app[SITES].set_capacity(tenant.id, name, kbps, actor)
    return web.json_response({"site": site})
