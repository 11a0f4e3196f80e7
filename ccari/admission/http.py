"""REST API (internal listener): usage, bills, admission decisions, trunk policy, pool, rates.

Bearer auth as everywhere (``ccari.admin.auth``): a tenant token sees its own tenant only; the
admin token names one with ``?tenant=<slug>``. A tenant may read its policy and rates and
choose its overflow action; its entitlement (R, T), its prices and the shared pool are set
with the admin token only (``403 admin-only``): a tenant could otherwise take the pool.

    GET /api/usage?from=ISO&to=ISO[&format=csv]     usage per medium and result, [from, to)
    GET /api/bill?from=ISO&to=ISO[&format=csv]      the bill for [from, to)
    GET /api/admission/decisions[?limit=50&refused=1]   recent decisions, with why
    GET|PUT /api/admission/policy                    {"ratio", "after_hours_trunks", "overflow"}
    GET|PUT /api/admission/rates                     prices (decimal strings)
    GET|PUT /api/admission/pool                      the shared pool (admin)

Dates are ISO 8601 (``2024-05-01``, ``2024-05-01T00:00:00Z``); without a zone they are UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

from aiohttp import web

from ccari.admin.auth import principal, tenant_scope
from ccari.admission.billing import TenantRates, bill_csv, usage_csv
from ccari.admission.estimates import Direction
from ccari.admission.models import AdmissionDecision
from ccari.admission.policy import Action, Decision, Reason, explain
from ccari.admission.records import AdmissionRecords
from ccari.admission.repo import decimal_of
from ccari.admission.rows import OVERFLOWS, POOL_FIELDS
from ccari.admission.service import AdmissionService
from ccari.errors import BadRequest, Forbidden, Invalid, NotFound
from ccari.web.bodies import json_body
from ccari.web.files import disposition

ADMISSION: web.AppKey[AdmissionService] = web.AppKey("admission", AdmissionService)
RECORDS: web.AppKey[AdmissionRecords] = web.AppKey("admission-records", AdmissionRecords)

routes = web.RouteTableDef()

MAX_RATIO = 1000.0
MAX_TRUNKS = 100_000
_SPACED_ZONE = re.compile(r"T.* (\d{2}:?\d{2})$")


def internal_setup(service: AdmissionService,
                   records: AdmissionRecords) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[ADMISSION] = service
        app[RECORDS] = records
        app.add_routes(routes)

    return setup


# ---- parsing -------------------------------------------------------------------------------
def _when(request: web.Request, name: str) -> dt.datetime:
    raw = request.query.get(name, "").strip()
    if not raw:
        raise BadRequest(f"give ?{name}= as an ISO 8601 date or time", error_id="bad-period")
    if _SPACED_ZONE.search(raw):  # an unescaped '+' in the query string arrives as a space
        head, _, zone = raw.rpartition(" ")
        raw = f"{head}+{zone}"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not an ISO 8601 date or time",
                         error_id="bad-period") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _period(request: web.Request) -> tuple[dt.datetime, dt.datetime]:
    start, end = _when(request, "from"), _when(request, "to")
    if end < start:
        raise BadRequest("'to' is before 'from'", error_id="bad-period")
    return start, end


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format is json or csv", error_id="bad-format")
    return fmt


def _csv(text: str, name: str) -> web.Response:
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": disposition("attachment", f"{name}.csv")})


async def _body(request: web.Request, *, decimals: bool = False) -> dict[str, Any]:
    body = await json_body(request, decimals=decimals)
    if not isinstance(body, dict) or not body:
        raise BadRequest("send a JSON object with the fields to change", error_id="bad-json")
    return body


def _fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(unknown)} (allowed: {', '.join(allowed)})",
                      error_id="unknown-field")


def _number(value: Any, name: str, error_id: str, *, integer: bool, high: float) -> Any:
    ok = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int)
    if ok:
        ok = math.isfinite(float(value)) and 0 <= value <= high
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise BadRequest(f"{name} must be {kind} from 0 to {high:g}", error_id=error_id)
    return value if integer else float(value)


async def _require_admin(request: web.Request) -> None:
    if (await principal(request)).tenant_id is not None:
        raise Forbidden("this change needs the admin token", error_id="admin-only")


# ---- usage and bills -----------------------------------------------------------------------
@routes.get("/api/usage")
async def get_usage(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    start, end = _period(request)
    fmt = _format(request)
    report = await request.app[RECORDS].usage(tenant_id, start, end)
    if fmt == "csv":
        return _csv(usage_csv(report), f"usage-{start.date()}-{end.date()}")
    return web.json_response(report.to_dict())


@routes.get("/api/bill")
async def get_bill(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    start, end = _period(request)
    fmt = _format(request)
    bill = await request.app[RECORDS].bill(tenant_id, start, end)
    if fmt == "csv":
        return _csv(bill_csv(bill), f"bill-{bill.tenant}-{start.date()}-{end.date()}")
    return web.json_response(bill.to_dict())


# ---- decisions -----------------------------------------------------------------------------
def _explain(row: AdmissionDecision) -> str:
    decision = Decision(str(row.tenant_id), cast(Direction, row.direction), row.admit,
                        cast(Action, row.action), cast(Reason, row.reason), row.permitted,
                        row.outstanding, dict(row.inputs or {}))
    try:
        return explain(decision)
    except (KeyError, IndexError, ValueError):  # e.g. an outward number refused
        return str((row.inputs or {}).get("message", row.reason))


def decision_json(row: AdmissionDecision) -> dict[str, Any]:
    return {
        "id": row.id, "at": row.at.isoformat(), "call_id": row.call_id, "node": row.node,
        "direction": row.direction, "admit": row.admit, "action": row.action,
        "reason": row.reason, "explanation": _explain(row), "permitted": row.permitted,
        "outstanding": row.outstanding, "inputs": row.inputs,
    }


@routes.get("/api/admission/decisions")
async def get_decisions(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise BadRequest("limit must be a whole number", error_id="bad-limit") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("limit must be from 1 to 1000", error_id="bad-limit")
    refused = request.query.get("refused", "") in ("1", "true", "yes")
    rows = await request.app[RECORDS].decisions(tenant_id, limit=limit, refused_only=refused)
    return web.json_response({"decisions": [decision_json(r) for r in rows]})


# ---- policy --------------------------------------------------------------------------------
@routes.get("/api/admission/policy")
async def get_policy(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    view = await request.app[ADMISSION].policy(tenant_id)
    return web.json_response(view.to_dict())


@routes.put("/api/admission/policy")
async def put_policy(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    body = await _body(request)
    _fields(body, ("ratio", "after_hours_trunks", "overflow"))
    ratio = body.get("ratio")
    trunks = body.get("after_hours_trunks")
    overflow = body.get("overflow")
    if ratio is not None:
        ratio = _number(ratio, "ratio", "bad-ratio", integer=False, high=MAX_RATIO)
    if trunks is not None:
        trunks = _number(trunks, "after_hours_trunks", "bad-after-hours-trunks", integer=True,
                         high=MAX_TRUNKS)
    if overflow is not None and overflow not in OVERFLOWS:
        raise BadRequest(f"overflow must be one of {', '.join(OVERFLOWS)}", error_id="bad-overflow")
    if ratio is not None or trunks is not None:
        await _require_admin(request)
    try:
        view = await request.app[ADMISSION].set_policy(
            tenant_id, ratio=ratio, after_hours_trunks=trunks, overflow=overflow
        )
    except ValueError as exc:
        raise BadRequest(str(exc), error_id="bad-policy") from None
    return web.json_response(view.to_dict())


# ---- rates ---------------------------------------------------------------------------------
def rates_json(r: TenantRates) -> dict[str, Any]:
    return {
        "tenant": r.tenant, "currency": r.currency,
        "per_trunk_minute": str(r.per_trunk_minute), "per_agent_minute": str(r.per_agent_minute),
        "per_contact": {m: str(p) for m, p in sorted(r.per_contact.items())},
        "uncharged_results": sorted(r.uncharged_results),
    }


@routes.get("/api/admission/rates")
async def get_rates(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    rates = await request.app[RECORDS].rates(tenant_id)
    if rates is None:
        raise NotFound("no rates are set for this tenant", error_id="rates-not-set")
    return web.json_response(rates_json(rates))


MAX_PRICE = Decimal(10) ** 9  # per minute or per contact: far above any tariff
MAX_PLACES = 10  # digits after the point a bill computes with


def _price(value: Any, name: str) -> Decimal:
    """A price a bill can be computed with (400 ``bad-rate``)."""
    try:
        price = decimal_of(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}", error_id="bad-rate") from None
    if price >= MAX_PRICE or -price.as_tuple().exponent > MAX_PLACES:  # type: ignore[operator]
        raise BadRequest(f"{name}: below {MAX_PRICE} with at most {MAX_PLACES} decimal places",
                         error_id="bad-rate")
    return price


@routes.put("/api/admission/rates")
async def put_rates(request: web.Request) -> web.Response:
    """Replace the tenant's prices; missing fields keep their current value."""
    tenant_id = await tenant_scope(request)
    await _require_admin(request)
    body = await _body(request, decimals=True)  # JSON numbers stay exact
    _fields(body, ("currency", "per_trunk_minute", "per_agent_minute", "per_contact",
                   "uncharged_results"))
    records = request.app[RECORDS]
    current = await records.rates(tenant_id) or TenantRates(tenant="")
    currency = body.get("currency", current.currency)
    if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        raise BadRequest("currency is an ISO 4217 code such as EUR", error_id="bad-currency")
    per_contact = body.get("per_contact", current.per_contact)
    if not isinstance(per_contact, dict) or not all(isinstance(m, str) and m for m in per_contact):
        raise BadRequest("per_contact maps a medium to a price", error_id="bad-rate")
    uncharged = body.get("uncharged_results", sorted(current.uncharged_results))
    if not (isinstance(uncharged, list) and all(isinstance(r, str) for r in uncharged)):
        raise BadRequest("uncharged_results is a list of results", error_id="bad-uncharged-results")
    rates = TenantRates(
        tenant="",
        currency=currency,
        per_trunk_minute=_price(body.get("per_trunk_minute", current.per_trunk_minute),
                                "per_trunk_minute"),
        per_agent_minute=_price(body.get("per_agent_minute", current.per_agent_minute),
                                "per_agent_minute"),
        per_contact={m: _price(p, f"per_contact.{m}") for m, p in per_contact.items()},
        uncharged_results=frozenset(uncharged),
    )
    return web.json_response(rates_json(await records.set_rates(tenant_id, rates)))


# ---- the shared pool (admin) ---------------------------------------------------------------
_POOL_INTEGERS = ("total_trunks", "near_full_margin", "likely_end_max_excess")


@routes.get("/api/admission/pool")
async def get_pool(request: web.Request) -> web.Response:
    await _require_admin(request)
    return web.json_response(await request.app[ADMISSION].pool())


@routes.put("/api/admission/pool")
async def put_pool(request: web.Request) -> web.Response:
    await _require_admin(request)
    body = await _body(request)
    _fields(body, POOL_FIELDS)
    changes = {
        name: _number(value, name, "bad-pool-setting", integer=name in _POOL_INTEGERS,
                      high=MAX_TRUNKS if name in _POOL_INTEGERS else 86400.0)
        for name, value in body.items()
    }
    try:
        pool = await request.app[ADMISSION].set_pool(changes)
    except ValueError as exc:
        raise BadRequest(str(exc), error_id="bad-pool-setting") from None
    return web.json_response(pool)
