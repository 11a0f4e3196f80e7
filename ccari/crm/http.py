"""REST API (internal listener): the tenant's entitlement source.

    GET|PUT /api/entitlements/source    url_template, timeout_s, cache_ttl_s, auth_header
                                        (write-only), routing_attribute, routing_levels
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.crm.entitlements import MAX_TIMEOUT_S, EntitlementLookup, check_template
from ccari.crm.models import EntitlementSource
from ccari.errors import BadRequest

LOOKUP: web.AppKey[EntitlementLookup] = web.AppKey("entitlement_lookup")
routes = web.RouteTableDef()


def internal_setup(lookup: EntitlementLookup) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[LOOKUP] = lookup
        app.add_routes(routes)

    return setup


def source_json(src: EntitlementSource | None) -> dict[str, Any]:
    src = src or EntitlementSource(timeout_s=2.0, cache_ttl_s=300, routing_attribute="tier",
                                   routing_levels=[])
    return {"url_template": src.url_template, "timeout_s": src.timeout_s,
            "cache_ttl_s": src.cache_ttl_s, "auth_header_set": bool(src.auth_header),
            "routing_attribute": src.routing_attribute, "routing_levels": list(src.routing_levels)}


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number from {low} to {high}",
                         error_id=f"bad-{name.replace('_', '-')}")
    return float(value)


@routes.get("/api/entitlements/source")
async def get_source(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        return web.json_response(source_json(await s.get(EntitlementSource, tenant_id)))


FIELDS = {"url_template", "timeout_s", "cache_ttl_s", "auth_header", "routing_attribute",
          "routing_levels"}


@routes.put("/api/entitlements/source")
async def put_source(request: web.Request) -> web.Response:
    """Set any of url_template (null: local record only), timeout_s, cache_ttl_s,
    auth_header (write-only), routing_attribute, routing_levels."""
    tenant_id = await tenant_scope(request)
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("send a JSON object", error_id="bad-json") from None
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object", error_id="bad-json")
    unknown = set(body) - FIELDS
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}", error_id="unknown-field")
    async with request.app[keys.SESSIONS]() as s:
        src = await s.get(EntitlementSource, tenant_id)
        if src is None:
            src = EntitlementSource(tenant_id=tenant_id, timeout_s=2.0, cache_ttl_s=300,
                                    routing_attribute="tier", routing_levels=[])
            s.add(src)
        if "url_template" in body:
            tpl = body["url_template"]
            if tpl is not None and not isinstance(tpl, str):
                raise BadRequest("url_template must be a string or null", error_id="bad-url-template")
            src.url_template = check_template(tpl) if tpl else None
        if "timeout_s" in body:
            src.timeout_s = _number(body, "timeout_s", 0.05, MAX_TIMEOUT_S)
        if "cache_ttl_s" in body:
            src.cache_ttl_s = int(_number(body, "cache_ttl_s", 0, 86400))
        if "auth_header" in body:
            auth = body["auth_header"]
            if auth is not None and (not isinstance(auth, str) or len(auth) > 500
                                     or any(c in auth for c in "\r\n")):
                raise BadRequest("auth_header must be one header value", error_id="bad-auth-header")
            src.auth_header = auth or None
        if "routing_attribute" in body:
            attr = body["routing_attribute"]
            if not isinstance(attr, str) or not attr or len(attr) > 64 or attr.startswith("_"):
                raise BadRequest("routing_attribute must be a name", error_id="bad-routing-attribute")
            src.routing_attribute = attr
        if "routing_levels" in body:
            levels = body["routing_levels"]
            if (not isinstance(levels, list) or len(levels) > 10
                    or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in levels)):
                raise BadRequest("routing_levels must be a list of level names",
                                 error_id="bad-routing-levels")
            src.routing_levels = levels
        await s.commit()
    request.app[LOOKUP].invalidate(tenant_id)
    return web.json_response(source_json(src))
