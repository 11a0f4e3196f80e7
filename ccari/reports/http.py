"""Interval reports over HTTP (internal listener).

    GET /api/reports?from=&to=[&interval=15m|hour|day][&by=skill|medium|agent][&format=json|csv]
        Bearer auth (``ccari.admin.auth``): a tenant token its own tenant; the admin token
        names one with ``&tenant=<slug>``.
    GET /supervisor/api/reports?...     the same for a supervisor's session (her tenant)
    GET /supervisor/reports?...         the page: a chart (offered and answered; by agent,
                                        the minutes in each state), the table, a CSV link

``from``/``to`` are ISO 8601 dates or times; without a zone they are the tenant's wall
clock (its business-hours zone, else UTC).  Bad parameters: 400 ``bad-period``,
``bad-interval``, ``bad-dimension``, ``bad-format``, ``range-too-long``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ccari.admin.auth import tenant_scope
from ccari.agents.access import signed_in, supervisor_of
from ccari.errors import BadRequest
from ccari.reports import schemas
from ccari.reports.intervals import ALL, DIMENSIONS, SIZES, GridError, state_minutes
from ccari.reports.services import Report, Reports
from ccari.web.files import disposition
from ccari.web.pages import render

routes = web.RouteTableDef()
REPORTS: web.AppKey[Reports] = web.AppKey("reports", Reports)


def internal_setup(reports: Reports) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[REPORTS] = reports
        app.add_routes(routes)

    return setup


def _when(request: web.Request, name: str, zone: str, default: dt.datetime | None) -> float:
    raw = request.query.get(name, "").strip().replace(" ", "+")
    if not raw:
        if default is None:
            raise BadRequest(f"give ?{name}= as an ISO 8601 date or time", error_id="bad-period")
        return default.timestamp()
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} is not an ISO 8601 date or time",
                         error_id="bad-period") from None
    return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))).timestamp()


def _choice(request: web.Request, name: str, choices: tuple[str, ...], default: str,
            error_id: str) -> str:
    value = request.query.get(name, default)
    if value not in choices:
        raise BadRequest(f"{name} is one of {', '.join(choices)}", error_id=error_id)
    return value


async def _build(request: web.Request, tenant_id: int, *, defaults: bool) -> Report:
    reports = request.app[REPORTS]
    zone = await reports.zone_of(tenant_id)
    today = dt.datetime.combine(dt.datetime.now(ZoneInfo(zone)).date(), dt.time(),
                                tzinfo=ZoneInfo(zone))
    start = _when(request, "from", zone, today if defaults else None)
    end = _when(request, "to", zone, today + dt.timedelta(days=1) if defaults else None)
    size = _choice(request, "interval", tuple(SIZES), "hour", "bad-interval")
    by = _choice(request, "by", DIMENSIONS, "skill", "bad-dimension")
    if end <= start:
        raise BadRequest("'to' must be after 'from'", error_id="bad-period")
    try:
        return await reports.build(tenant_id, start, end, size, by)
    except GridError as exc:
        raise BadRequest(str(exc), error_id="range-too-long") from None


async def _respond(request: web.Request, tenant_id: int) -> web.StreamResponse:
    fmt = _choice(request, "format", ("json", "csv"), "json", "bad-format")
    report = await _build(request, tenant_id, defaults=False)
    if fmt == "json":
        return web.json_response(schemas.as_json(report))
    name = f"report-{report.tenant.slug}-{report.by}"
    return web.Response(text=schemas.as_csv(report), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": disposition("attachment", f"{name}.csv")})


@routes.get("/api/reports")
async def api_report(request: web.Request) -> web.StreamResponse:
    return await _respond(request, await tenant_scope(request))


@routes.get("/supervisor/api/reports")
async def supervisor_report(request: web.Request) -> web.StreamResponse:
    _, _, tenant = await supervisor_of(request)
    return await _respond(request, tenant.id)


@routes.get("/supervisor/reports")
async def page(request: web.Request) -> web.Response:
    if await signed_in(request) is None:
        raise web.HTTPSeeOther("/agent/login")
    _, agent, tenant = await supervisor_of(request)
    report = await _build(request, tenant.id, defaults=True)
    data = schemas.as_json(report)
    totals = [r for r in data["rows"] if r["key"] == ALL] if report.by != "agent" else []
    series = state_minutes(report.rows) if report.by == "agent" else {
        "t": [r.start for r in report.rows if r.key == ALL],
        "offered": [r["offered"] for r in totals],
        "answered": [r["answered"] for r in totals],
    }
    params = {"from": data["from"][:16], "to": data["to"][:16],
              "interval": request.query.get("interval", "hour"), "by": report.by}
    return render("reports.html", agent=agent, tenant=tenant, report=data,
                  series=json.dumps(series), params=params, sizes=tuple(SIZES),
                  dimensions=DIMENSIONS,
                  csv_url="/supervisor/api/reports?" + urlencode({**params, "format": "csv"}))
