"""HTTP side of the fax context (internal listener).

* ``GET /api/faxes``: the tenant's faxes, newest first, one page of them (tenant or admin
  token), filtered and paged like the fax list page (:mod:`ccari.fax.listing`, read by
  :func:`~ccari.fax.listing.parse_api`: received faxes only without ``direction``,
  ``direction=all`` for received and sent), each with its ``direction``; a filter it does not
  know is a 400 with the page's error id (``bad-direction``, ``bad-status``, ``bad-period``,
  ``bad-number``, ``bad-page``).
* ``GET /api/faxes/{id}``: one fax.
* ``GET /api/faxes/{id}/pdf``: its document.
* ``DELETE /api/faxes/{id}``: forget a settled fax's document (409 ``fax-in-progress``
  while it is received or waits for an agent); its contact stays in the log.
* ``GET/PUT /api/faxes/settings`` {detect_on_voice}: the tenant's fax policy (off by
  default): whether fax machines calling its voice numbers are found by their tones and
  received as faxes (``ccari.fax.detect``).
* ``GET /agent/faxes/{id}/pdf``: the document, for the agent it is offered or connected to.
* ``POST /api/faxes/outbound?to=<E.164>`` with an ``application/pdf`` body: send it (201,
  the send with its first attempt); the number passes the toll-fraud guard.  The send keeps
  who asked for it (``sent_by``: the tenant's token or the admin token).
* ``GET /api/faxes/outbound/{id}``: a sent fax's status, who sent it, the station id of the
  machine that took it, and its attempts (pages, reason).
* ``GET /api/faxes/outbound/{id}/pdf``: the document it carries, as the tenant gave it.
* ``POST /api/faxes/outbound/{id}/resend``: a new attempt of a failed one (409
  ``fax-not-failed`` otherwise), which keeps who asked for it (``requested_by``: the tenant's
  token or the admin token) as each attempt does (a first attempt: the send's ``sent_by``;
  ``retry``: dialled again by itself).

Another tenant's fax is 404 ``fax-not-found``, as is one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.admin.auth import Principal, scoped, tenant_scope
from ccari.agents.access import agent_of, in_hand
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.fax import listing, repo
from ccari.fax.listing import Received, Sent
from ccari.fax.models import FaxPolicy
from ccari.fax.sending import FaxSender, InvalidDocument, SentBy
from ccari.fax.services import MEDIUM, FaxService
from ccari.storage.models import Contact
from ccari.web.bodies import json_object
from ccari.web.files import disposition

SERVICE = web.AppKey("fax", FaxService)
SENDER = web.AppKey("fax_sender", FaxSender)


def internal_setup(service: FaxService, sender: FaxSender) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app[SENDER] = sender
        app.router.add_post("/api/faxes/outbound", send_fax)
        app.router.add_get("/api/faxes/outbound/{id}", get_send)
        app.router.add_get("/api/faxes/outbound/{id}/pdf", sent_pdf)
        app.router.add_post("/api/faxes/outbound/{id}/resend", resend)
        app.router.add_get("/api/faxes", list_faxes)
        app.router.add_get("/api/faxes/settings", get_settings)
        app.router.add_put("/api/faxes/settings", put_settings)
        app.router.add_get("/api/faxes/{id}", get_fax)
        app.router.add_get("/api/faxes/{id}/pdf", tenant_pdf)
        app.router.add_delete("/api/faxes/{id}", delete_fax)
        app.router.add_get("/agent/faxes/{id}/pdf", agent_pdf)

    return setup


def not_found() -> NotFound:
    return NotFound("no such fax", error_id="fax-not-found")


def view(fax: Received) -> dict[str, Any]:
    return {
        "id": fax.id, "direction": "received", "status": fax.status, "pages": fax.pages,
        "sender_number": fax.sender_number, "station_id": fax.station_id,
        "error": fax.error, "detail": fax.detail,
        "created_at": fax.created_at.isoformat(),
        "settled_at": fax.settled_at.isoformat() if fax.settled_at else None,
        "tiff_sha256": fax.tiff_sha256, "pdf_sha256": fax.pdf_sha256,
        "contact_id": fax.contact_id,
        "state": fax.state, "agent_id": fax.agent_id,
        "pdf": f"/api/faxes/{fax.id}/pdf" if fax.pdf_sha256 else None,
        "detected": fax.detected, "mode": fax.mode,
    }


def pdf_response(fax_id: str, body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/pdf", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": disposition("inline", f"fax-{fax_id}.pdf"),
    })


async def document(request: web.Request, tenant_id: int, *, sent: bool) -> web.Response:
    """The tenant's fax named by the path: a received one's PDF, a sent one's document."""
    fax_id = request.match_info["id"]
    if sent:
        body = await request.app[SENDER].pdf(tenant_id, fax_id)
    else:
        body = await request.app[SERVICE].pdf(tenant_id, fax_id)
    if body is None:
        raise not_found()
    return pdf_response(("sent-" if sent else "") + fax_id, body)


async def list_faxes(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        filters = listing.parse_api(request.query, await repo.zone(s, tenant_id))
        found = await repo.listing(s, tenant_id, filters)
    return web.json_response({
        "faxes": [view(f) if isinstance(f, Received) else send_view(f) for f in found.faxes],
        "total": found.total, "page": filters.page, "size": filters.size,
        "pages": listing.page_count(found.total, filters.size)})


def _policy(policy: FaxPolicy) -> dict[str, Any]:
    return {"detect_on_voice": policy.detect_on_voice}


async def get_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    return web.json_response(_policy(await request.app[SERVICE].policy(tenant_id)))


async def put_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    detect = (await json_object(request)).get("detect_on_voice")
    if not isinstance(detect, bool):
        raise BadRequest("detect_on_voice must be true or false", error_id="bad-detect-on-voice")
    policy = await request.app[SERVICE].set_policy(tenant_id, detect_on_voice=detect)
    return web.json_response(_policy(policy))


async def get_fax(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    service = request.app[SERVICE]
    fax = await service.get(tenant_id, request.match_info["id"])
    if fax is None:
        raise not_found()
    async with request.app[keys.SESSIONS]() as s:
        contact = await s.get(Contact, fax.contact_id) if fax.contact_id else None
    return web.json_response(view(repo.received_of(fax, contact)))


async def tenant_pdf(request: web.Request) -> web.Response:
    return await document(request, await tenant_scope(request), sent=False)


async def sent_pdf(request: web.Request) -> web.Response:
    return await document(request, await tenant_scope(request), sent=True)


async def delete_fax(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    done = await request.app[SERVICE].delete(tenant_id, request.match_info["id"])
    if done is None:
        raise not_found()
    if not done:
        raise Conflict("the fax is being received or waits for an agent",
                       error_id="fax-in-progress")
    return web.Response(status=204)


async def agent_pdf(request: web.Request) -> web.Response:
    _, agent, _ = await agent_of(request)
    fax_id = request.match_info["id"]
    if await in_hand(request, agent, fax_id, MEDIUM) is None:
        raise not_found()
    body = await request.app[SERVICE].pdf(agent.tenant_id, fax_id)
    if body is None:
        raise not_found()
    return pdf_response(fax_id, body)


def send_view(send: Sent) -> dict[str, Any]:
    return {"id": send.id, "direction": "sent", "to": send.to_number, "pages": send.pages,
            "status": send.status, "created_at": send.created_at.isoformat(),
            "sent_by": send.sent_by, "station_id": send.station_id,
            "pdf_sha256": send.pdf_sha256, "pdf": f"/api/faxes/outbound/{send.id}/pdf",
            "retry_at": send.retry_at.isoformat() if send.retry_at else None,
            "attempts": [{"id": a.id, "status": a.status, "pages": a.pages, "error": a.error,
                          "requested_by": a.requested_by,
                          "started_at": a.started_at.isoformat(),
                          "ended_at": a.ended_at.isoformat() if a.ended_at else None}
                         for a in send.attempts]}


def _requester(who: Principal) -> SentBy:
    """The kind of token a send or resend request came with."""
    return "admin-token" if who.tenant_id is None else "tenant-token"


async def send_fax(request: web.Request) -> web.Response:
    who, tenant_id = await scoped(request)
    to = request.query.get("to", "")
    if request.content_type != "application/pdf":
        raise InvalidDocument("send the document as application/pdf")
    body = await request.read()
    sender = request.app[SENDER]
    send = await sender.submit(tenant_id, to, body, sent_by=_requester(who))
    found = await sender.get(tenant_id, send.id)
    assert found is not None
    return web.json_response(send_view(repo.sent_of(*found)), status=201)


async def get_send(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    found = await request.app[SENDER].get(tenant_id, request.match_info["id"])
    if found is None:
        raise NotFound("no such fax sent", error_id="fax-not-found")
    return web.json_response(send_view(repo.sent_of(*found)))


async def resend(request: web.Request) -> web.Response:
    who, tenant_id = await scoped(request)
    sender = request.app[SENDER]
    send = await sender.resend(tenant_id, request.match_info["id"], requested_by=_requester(who))
    found = await sender.get(tenant_id, send.id) if send is not None else None
    if found is None:
        raise NotFound("no such fax sent", error_id="fax-not-found")
    return web.json_response(send_view(repo.sent_of(*found)), status=201)
