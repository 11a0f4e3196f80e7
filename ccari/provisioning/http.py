"""Provisioning REST API (internal listener): tenants, queues, numbers, agents, IVR menus and
the audit log.

Bearer auth as everywhere (``ccari.admin.auth``).  The admin token acts on every tenant; a
tenant's own token on its own tenant only (``403 wrong-tenant`` elsewhere, including for a
tenant that does not exist).  Creating tenants and taking or giving back numbers (DIDs come
from the carrier) is the admin's (``403 admin-only``).

    GET  /api/tenants                                   the tenants the token sees
    POST /api/tenants                                   {"slug", "name"} -> its API token (admin)
    GET  /api/tenants/{tenant}                          the whole tenant, as a document
    PUT  /api/tenants/{tenant}                          apply a whole document (admin: may create)
    PATCH /api/tenants/{tenant}                         {"slug"?, "name"?}: rename it (admin)
    DELETE /api/tenants/{tenant}                        delete it and all it has (admin)
    GET  /api/tenants/{tenant}/queues, PUT .../queues/{name}
    GET|POST /api/tenants/{tenant}/numbers              POST: admin
    GET|PUT|DELETE /api/tenants/{tenant}/numbers/{did}  DELETE: admin
    GET|POST /api/tenants/{tenant}/agents, GET|PUT|DELETE .../agents/{username}
    GET|POST /api/tenants/{tenant}/menus, GET|PUT|DELETE .../menus/{name}
    GET|PUT|DELETE /api/tenants/{tenant}/hours          the tenant's business hours
    GET|PUT|DELETE /api/tenants/{tenant}/after-hours    the route of numbers without their own
    GET|PUT /api/tenants/{tenant}/recording             the tenant's recording policy
    GET  /api/tenants/{tenant}/audit[?limit=100]        the audit log, newest first
    GET|PUT /api/tenants/{tenant}/routing               fair blending (``.routing``)
    GET|PUT /api/tenants/{tenant}/dispositions          wrap-up codes (``.codes``)

Errors: ``{"error": id, "message": ...}``: 422 for a value ccari cannot take (the field is
named), 409 for a conflict (``number-taken``, ``phone-taken``, ``menu-in-use``...), 404 for
what the tenant does not have.  Changes to numbers and agents' phones reload Asterisk
before the answer (``"pbx"`` says what was reloaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.admin.auth import principal
from ccari.agents.devices import SIP_TLS
from ccari.errors import BadRequest, Forbidden, NotFound
from ccari.provisioning import hours as hrs
from ccari.provisioning import schemas as sch
from ccari.provisioning.services import Provisioning
from ccari.web.bodies import json_body

PROVISIONING: web.AppKey[Provisioning] = web.AppKey("provisioning", Provisioning)

routes = web.RouteTableDef()
TENANT = "/api/tenants/{tenant}"


def internal_setup(service: Provisioning) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[PROVISIONING] = service
        app.add_routes(routes)

    return setup


@dataclass(frozen=True)
class Scope:
    tenant_id: int
    slug: str
    actor: str  # for the audit log
    admin: bool

    def admin_only(self) -> None:
        if not self.admin:
            raise Forbidden("only the admin token may do this", error_id="admin-only")


async def _scope(request: web.Request) -> Scope:
    """The tenant of the path, if the token may act on it."""
    who = await principal(request)
    slug = request.match_info["tenant"]
    service = request.app[PROVISIONING]
    try:
        tenant_id = await service.tenant_id(slug)
    except NotFound:
        if who.tenant_id is not None:  # a tenant token learns nothing of other tenants
            raise Forbidden("this token belongs to another tenant", error_id="wrong-tenant") from None
        raise
    who.scope(tenant_id)
    actor = "admin" if who.tenant_id is None else f"tenant:{slug}"
    return Scope(tenant_id, slug, actor, who.tenant_id is None)


async def _body(request: web.Request, key: str | None = None) -> Any:
    """The JSON body; ``key``: the path's name for the object, filled in or checked."""
    data = await json_body(request)
    if key is not None and isinstance(data, dict):
        name = request.match_info[key]
        if data.setdefault(key, name) != name:
            raise sch.Invalid(f"{key}: the body says {data[key]!r}, the path {name!r}",
                              error_id="path-mismatch")
    return data


def _phone_possible(request: web.Request, spec: sch.AgentSpec) -> sch.AgentSpec:
    """A TLS phone needs the PBX's TLS transport (else Asterisk leaves it out)."""
    if spec.device == SIP_TLS and not request.app[keys.CONFIG].pbx.sip_tls_port:
        raise sch.Invalid("device: sip-tls needs the PBX's TLS transport (pbx.sip_tls_port)",
                          error_id="tls-off")
    return spec


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("limit", "100")), 1000))
    except ValueError:
        raise BadRequest("limit must be a whole number") from None


# ---- tenants ---------------------------------------------------------------------------------
@routes.get("/api/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    who = await principal(request)
    return web.json_response({"tenants": await request.app[PROVISIONING].tenants(who.tenant_id)})


@routes.post("/api/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    who = await principal(request)
    if who.tenant_id is not None:
        raise Forbidden("only the admin token may create tenants", error_id="admin-only")
    spec = sch.tenant(await _body(request))
    tenant, token = await request.app[PROVISIONING].create_tenant("admin", spec)
    return web.json_response({"tenant": tenant, "api_token": token}, status=201)


@routes.get(TENANT)
async def get_tenant(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response(await request.app[PROVISIONING].tenant(scope.slug))


@routes.put(TENANT)
async def put_tenant(request: web.Request) -> web.Response:
    """Apply a whole document; the admin may create the tenant with it."""
    who = await principal(request)
    slug = request.match_info["tenant"]
    # Another tenant's token is refused before its body is read.
    actor = "admin" if who.tenant_id is None else (await _scope(request)).actor
    data = await _body(request)
    doc = sch.document(data)
    if doc.tenant.slug != slug:
        raise sch.Invalid(f"tenant.slug: the body says {doc.tenant.slug!r}, the path {slug!r}",
                          error_id="path-mismatch")
    service = request.app[PROVISIONING]
    result, token, pbx = await service.apply(actor, doc, admin=who.tenant_id is None)
    body: dict[str, Any] = {**result, "pbx": pbx}
    if token is not None:
        body["api_token"] = token
    return web.json_response(body, status=201 if token else 200)


@routes.patch(TENANT)
async def rename_tenant(request: web.Request) -> web.Response:
    """A new slug and/or name; the tenant keeps its id, rows, API token and audit log."""
    scope = await _scope(request)
    scope.admin_only()
    data = await _body(request)
    if data == {}:
        raise sch.Invalid("give a new slug, a new name or both")
    service = request.app[PROVISIONING]
    (now,) = await service.tenants(scope.tenant_id)
    spec = sch.tenant({**now, **data} if isinstance(data, dict) else data)
    tenant, pbx = await service.rename_tenant(scope.actor, scope.slug, spec)
    return web.json_response({"tenant": tenant, "pbx": pbx})


@routes.delete(TENANT)
async def delete_tenant(request: web.Request) -> web.Response:
    """409 ``tenant-busy`` while it has live contacts or logged-in agents."""
    scope = await _scope(request)
    scope.admin_only()
    pbx = await request.app[PROVISIONING].delete_tenant(scope.actor, scope.slug)
    return web.json_response({"deleted": scope.slug, "pbx": pbx})


# ---- queues ----------------------------------------------------------------------------------
@routes.get(TENANT + "/queues")
async def list_queues(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response({"queues": await request.app[PROVISIONING].queues(scope.tenant_id)})


@routes.put(TENANT + "/queues/{name}")
async def put_queue(request: web.Request) -> web.Response:
    scope = await _scope(request)
    spec = sch.queue(await _body(request, "name"))
    view = await request.app[PROVISIONING].put_queue(scope.actor, scope.tenant_id, spec)
    return web.json_response({"queue": view})


# ---- numbers ---------------------------------------------------------------------------------
@routes.get(TENANT + "/numbers")
async def list_numbers(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response({"numbers": await request.app[PROVISIONING].numbers(scope.tenant_id)})


@routes.post(TENANT + "/numbers")
async def create_number(request: web.Request) -> web.Response:
    scope = await _scope(request)
    scope.admin_only()
    spec = sch.number(await _body(request))
    view, pbx = await request.app[PROVISIONING].create_number(scope.actor, scope.tenant_id, spec)
    return web.json_response({"number": view, "pbx": pbx}, status=201)


@routes.get(TENANT + "/numbers/{did}")
async def get_number(request: web.Request) -> web.Response:
    scope = await _scope(request)
    did = sch.e164(request.match_info["did"])
    return web.json_response(await request.app[PROVISIONING].number(scope.tenant_id, did))


@routes.put(TENANT + "/numbers/{did}")
async def put_number(request: web.Request) -> web.Response:
    scope = await _scope(request)
    did = sch.e164(request.match_info["did"])
    data = await _body(request)
    spec = sch.number({"did": did, **data} if isinstance(data, dict) else data)
    view, pbx = await request.app[PROVISIONING].update_number(scope.actor, scope.tenant_id,
                                                              did, spec)
    return web.json_response({"number": view, "pbx": pbx})


@routes.delete(TENANT + "/numbers/{did}")
async def delete_number(request: web.Request) -> web.Response:
    scope = await _scope(request)
    scope.admin_only()
    did = sch.e164(request.match_info["did"])
    pbx = await request.app[PROVISIONING].delete_number(scope.actor, scope.tenant_id, did)
    return web.json_response({"deleted": did, "pbx": pbx})


# ---- agents ----------------------------------------------------------------------------------
@routes.get(TENANT + "/agents")
async def list_agents(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response({"agents": await request.app[PROVISIONING].agents(scope.tenant_id)})


@routes.post(TENANT + "/agents")
async def create_agent(request: web.Request) -> web.Response:
    scope = await _scope(request)
    spec = _phone_possible(request, sch.agent(await _body(request)))
    view, pbx = await request.app[PROVISIONING].create_agent(scope.actor, scope.tenant_id, spec)
    return web.json_response({"agent": view, "pbx": pbx}, status=201)


@routes.get(TENANT + "/agents/{username}")
async def get_agent(request: web.Request) -> web.Response:
    scope = await _scope(request)
    username = request.match_info["username"]
    return web.json_response(await request.app[PROVISIONING].agent(scope.tenant_id, username))


@routes.put(TENANT + "/agents/{username}")
async def put_agent(request: web.Request) -> web.Response:
    scope = await _scope(request)
    spec = _phone_possible(request, sch.agent(await _body(request, "username"), new=False))
    view, pbx = await request.app[PROVISIONING].update_agent(
        scope.actor, scope.tenant_id, request.match_info["username"], spec)
    return web.json_response({"agent": view, "pbx": pbx})


@routes.delete(TENANT + "/agents/{username}")
async def delete_agent(request: web.Request) -> web.Response:
    scope = await _scope(request)
    username = request.match_info["username"]
    pbx = await request.app[PROVISIONING].delete_agent(scope.actor, scope.tenant_id, username)
    return web.json_response({"deleted": username, "pbx": pbx})


# ---- IVR menus -------------------------------------------------------------------------------
@routes.get(TENANT + "/menus")
async def list_menus(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response({"menus": await request.app[PROVISIONING].menus(scope.tenant_id)})


@routes.post(TENANT + "/menus")
async def create_menu(request: web.Request) -> web.Response:
    scope = await _scope(request)
    spec = sch.menu(await _body(request))
    view = await request.app[PROVISIONING].put_menu(scope.actor, scope.tenant_id, spec, create=True)
    return web.json_response({"menu": view}, status=201)


@routes.get(TENANT + "/menus/{name}")
async def get_menu(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response(
        await request.app[PROVISIONING].menu(scope.tenant_id, request.match_info["name"]))


@routes.put(TENANT + "/menus/{name}")
async def put_menu(request: web.Request) -> web.Response:
    scope = await _scope(request)
    spec = sch.menu(await _body(request, "name"))
    view = await request.app[PROVISIONING].put_menu(scope.actor, scope.tenant_id, spec, create=False)
    return web.json_response({"menu": view})


@routes.delete(TENANT + "/menus/{name}")
async def delete_menu(request: web.Request) -> web.Response:
    scope = await _scope(request)
    name = request.match_info["name"]
    await request.app[PROVISIONING].delete_menu(scope.actor, scope.tenant_id, name)
    return web.json_response({"deleted": name})


# ---- business hours --------------------------------------------------------------------------
@routes.get(TENANT + "/hours")
async def get_hours(request: web.Request) -> web.Response:
    """The tenant's calendar (``null``: no hours, never after hours), ``open_now`` and
    ``next_change``; a number's own is part of the number (``hours``, ``after_hours``)."""
    scope = await _scope(request)
    return web.json_response(await request.app[PROVISIONING].hours(scope.tenant_id))


@routes.put(TENANT + "/hours")
async def put_hours(request: web.Request) -> web.Response:
    scope = await _scope(request)
    calendar = hrs.calendar(await _body(request), "")
    view = await request.app[PROVISIONING].put_hours(scope.actor, scope.tenant_id, calendar)
    return web.json_response(view)


@routes.delete(TENANT + "/hours")
async def delete_hours(request: web.Request) -> web.Response:
    scope = await _scope(request)
    view = await request.app[PROVISIONING].put_hours(scope.actor, scope.tenant_id, None)
    return web.json_response(view)


@routes.get(TENANT + "/after-hours")
async def get_after_hours(request: web.Request) -> web.Response:
    """The after-hours route of the tenant's numbers that have none (``null``: the
    announcement)."""
    scope = await _scope(request)
    return web.json_response(await request.app[PROVISIONING].after_hours(scope.tenant_id))


@routes.put(TENANT + "/after-hours")
async def put_after_hours(request: web.Request) -> web.Response:
    scope = await _scope(request)
    route = hrs.after_hours(await _body(request), "after_hours")
    return web.json_response(
        await request.app[PROVISIONING].put_after_hours(scope.actor, scope.tenant_id, route))


@routes.delete(TENANT + "/after-hours")
async def delete_after_hours(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response(
        await request.app[PROVISIONING].put_after_hours(scope.actor, scope.tenant_id, None))


# ---- recording policy ------------------------------------------------------------------------
@routes.get(TENANT + "/recording")
async def get_recording(request: web.Request) -> web.Response:
    """The tenant's recording policy (``null``: nothing is recorded)."""
    scope = await _scope(request)
    return web.json_response(await request.app[PROVISIONING].recording(scope.tenant_id))


@routes.put(TENANT + "/recording")
async def put_recording(request: web.Request) -> web.Response:
    scope = await _scope(request)
    policy = await request.app[PROVISIONING].put_recording(scope.actor, scope.tenant_id,
                                                          await _body(request))
    return web.json_response(policy)


# ---- the audit log ---------------------------------------------------------------------------
@routes.get(TENANT + "/audit")
async def audit(request: web.Request) -> web.Response:
    scope = await _scope(request)
    entries = await request.app[PROVISIONING].audit(scope.tenant_id, _limit(request))
    return web.json_response({"audit": entries})
