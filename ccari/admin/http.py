"""REST API (internal listener only): contacts and their event log, the process metrics
(Prometheus text, no tenant data); service health on both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.contacts import repo
from ccari.errors import BadRequest, NotFound
from ccari.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ccari.storage.models import Contact

routes = web.RouteTableDef()


def internal_setup() -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app.add_routes(routes)

    return setup


def public_setup() -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app.router.add_get("/healthz", health)

    return setup


def contact_json(c: Contact) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": c.id, "medium": c.medium, "state": c.state, "caller_number": c.caller_number,
        "attributes": dict(c.attributes or {}),
        "agent_id": c.agent_id, "customer_id": c.customer_id,
        "arrived_at": iso(c.arrived_at), "queued_at": iso(c.queued_at),
        "connected_at": iso(c.connected_at), "ended_at": iso(c.ended_at),
        "wait_s": c.wait_s, "talk_s": c.talk_s, "disposition": c.disposition,
    }


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("limit", "50")), 500))
    except ValueError:
        raise BadRequest("limit must be a whole number") from None


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.METRICS].render().encode(),
                        headers={"Content-Type": METRICS_CONTENT_TYPE})


@routes.get("/api/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        rows = await repo.recent(s, tenant_id, limit=_limit(request))
    return web.json_response({"contacts": [contact_json(c) for c in rows]})


@routes.get("/api/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        contact = await repo.get(s, request.match_info["id"], tenant_id)
        if contact is None:
            raise NotFound("no such contact", error_id="contact-not-found")
        events = await repo.events(s, tenant_id, contact.id)
    body = contact_json(contact)
    body["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "data": e.data} for e in events]
    return web.json_response(body)
