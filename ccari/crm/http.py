"""REST API (internal listener): the tenant's customers and its entitlement source.

    GET  /api/customers?q=&limit=&offset=   search by name, email or phone, by name
    POST /api/customers                     {name, email?, phones?, entitlements?} -> 201
    GET|PUT|DELETE /api/customers/{id}      PUT: the whole record
    GET  /api/customers.csv                 every customer as CSV (``ccari.crm.csvcodec``)
    POST /api/customers/import              a CSV body: all rows or none -> the counts
    GET|PUT /api/entitlements/source    url_template, timeout_s, cache_ttl_s, auth_header
                                        (write-only), routing_attribute, routing_levels

Bearer auth; a tenant's token acts on its own customers, the admin token names the tenant
with ``?tenant=``.  Another tenant's customer is ``404 customer-not-found``.  Errors:
``bad-name``, ``bad-email``, ``bad-phone``, ``bad-entitlement`` (422), ``phone-taken`` (409),
``bad-csv`` (422, with every bad row), ``csv-too-large`` (413).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.admin.auth import scoped, tenant_scope
from ccari.crm import schemas
from ccari.crm.csvcodec import RowError
from ccari.crm.entitlements import MAX_TIMEOUT_S, EntitlementLookup, check_template
from ccari.crm.models import EntitlementSource
from ccari.crm.services import Customers, ImportRefused
from ccari.errors import BadRequest, CcariError, Invalid, NotFound
from ccari.web.bodies import json_body, json_object

LOOKUP: web.AppKey[EntitlementLookup] = web.AppKey("entitlement_lookup")
CUSTOMERS: web.AppKey[Customers] = web.AppKey("customers", Customers)
routes = web.RouteTableDef()


def internal_setup(lookup: EntitlementLookup,
                   customers: Customers) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[LOOKUP] = lookup
        app[CUSTOMERS] = customers
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
    body = await json_object(request)
    unknown = set(body) - FIELDS
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}", error_id="unknown-field")
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
            src.url_template = check_template(tpl, request.app[LOOKUP].reach) if tpl else None
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


# ---- customers -------------------------------------------------------------------------------
class TooLarge(CcariError):
    """The CSV is larger than crm.import_max_bytes."""

    error_id = "csv-too-large"
    status = 413


async def _who(request: web.Request) -> tuple[int, str]:
    """The tenant acted on and the actor for the audit log."""
    who, tenant_id = await scoped(request)
    return tenant_id, "admin" if who.tenant_id is None else f"tenant:{tenant_id}"


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, str(default)))
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", error_id=f"bad-{name}") from None
    return max(low, min(value, high))


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdecimal() or len(raw) > 18:
        raise NotFound(f"no customer {raw}", error_id="customer-not-found")
    return int(raw)


async def _spec(request: web.Request) -> schemas.CustomerSpec:
    return schemas.customer(await json_body(request))


@routes.get("/api/customers")
async def list_customers(request: web.Request) -> web.Response:
    tenant_id, _ = await _who(request)
    q = request.query.get("q", "")[:200]
    found = await request.app[CUSTOMERS].search(
        tenant_id, q, _int(request, "limit", 100, 1, 1000), _int(request, "offset", 0, 0, 10**9))
    return web.json_response(found)


@routes.post("/api/customers")
async def create_customer(request: web.Request) -> web.Response:
    tenant_id, actor = await _who(request)
    made = await request.app[CUSTOMERS].create(actor, tenant_id, await _spec(request))
    return web.json_response(made, status=201)


@routes.get("/api/customers.csv")
async def export_customers(request: web.Request) -> web.Response:
    tenant_id, _ = await _who(request)
    text = await request.app[CUSTOMERS].export(tenant_id)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="customers.csv"'})


@routes.post("/api/customers/import")
async def import_customers(request: web.Request) -> web.Response:
    tenant_id, actor = await _who(request)
    limit = request.app[keys.CONFIG].crm.import_max_bytes
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"a CSV of customers is at most {limit} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportRefused([RowError(0, "bad-encoding", "the CSV must be UTF-8")]) from None
    try:
        counts = await request.app[CUSTOMERS].import_csv(actor, tenant_id, text)
    except ImportRefused as exc:
        return web.json_response(
            {"error": exc.error_id, "message": exc.message,
             "rows": [{"row": e.row, "error": e.error, "message": e.message} for e in exc.errors]},
            status=exc.status)
    return web.json_response(counts)


@routes.get("/api/customers/{id}")
async def get_customer(request: web.Request) -> web.Response:
    tenant_id, _ = await _who(request)
    return web.json_response(await request.app[CUSTOMERS].get(tenant_id, _id(request)))


@routes.put("/api/customers/{id}")
async def put_customer(request: web.Request) -> web.Response:
    tenant_id, actor = await _who(request)
    customers, customer_id = request.app[CUSTOMERS], _id(request)
    await customers.get(tenant_id, customer_id)  # another tenant's: 404 before the body is read
    spec = await _spec(request)
    return web.json_response(await customers.update(actor, tenant_id, customer_id, spec))


@routes.delete("/api/customers/{id}")
async def delete_customer(request: web.Request) -> web.Response:
    tenant_id, actor = await _who(request)
    await request.app[CUSTOMERS].delete(actor, tenant_id, _id(request))
    return web.Response(status=204)
