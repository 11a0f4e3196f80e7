"""Supervisor page and its JSON API (internal listener; agent session with role supervisor).

``GET /supervisor`` the page; ``GET /supervisor/api/pending`` the tenant's waiting contacts
of every medium (position, predicted wait, scheduled time) and its agents' states (with
the reason when ccari made one not ready: a missed offer, and the waiting calls capacity is
held back for on each: fair blending);
``POST /supervisor/api/contacts/{id}/priority`` {priority} and ``.../schedule``
{not_before: ISO time | null}.

Live calls: ``GET /supervisor/api/calls`` the tenant's calls in progress (caller, skill,
agent, seconds in their state, on hold, muted, who monitors); ``POST
/supervisor/api/calls/{id}/monitor`` {mode: listen | whisper | barge | take_over} starts a
monitoring session (ccari rings the supervisor's phone) or switches hers to that mode;
``DELETE`` on it ends her session (the call stays up).  POSTs and DELETEs carry the session's
CSRF token in ``X-CSRF-Token``.

Finished contacts: ``GET /supervisor/api/finished?limit=N`` the tenant's latest ended
contacts of every medium (newest first, how many recordings each kept), each with its
contact page (``/agent/contacts/{id}``: recordings and event log).  Every list of the page
links its contacts to that page.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from ccari import keys
from ccari.agents.access import check_csrf_header, signed_in, supervisor_of
from ccari.callbacks import http as callbacks_http
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.screenpop import public_attributes
from ccari.errors import BadRequest, Conflict, NotFound
from ccari.recording.models import Recording
from ccari.routing import CALLS
from ccari.storage.models import Agent, Contact
from ccari.voice.monitoring import Mode
from ccari.voice.supervision import Supervision
from ccari.web.bodies import json_object
from ccari.web.pages import render

routes = web.RouteTableDef()
SUPERVISION: web.AppKey[Supervision] = web.AppKey("supervision")
# Queued or offered to an agent; callbacks also wait "scheduled" (for their time) or
# "dialing" (the customer's phone is ringing).
WAITING = ("queued", "offered", "scheduled", "dialing")
IN_PROGRESS = ("ivr", "queued", "offered", "connected")
FINISHED_LIMIT = 50  # finished contacts listed, unless ``?limit=`` (at most MAX) says
FINISHED_MAX = 200


def internal_setup(supervision: Callable[[], Supervision | None]) -> Callable[[web.Application], None]:
    """``supervision``: the monitoring of calls, once the PBX side exists (None: no PBX)."""

    def setup(app: web.Application) -> None:
        app.add_routes(routes)
        found = supervision()
        if found is not None:
            app[SUPERVISION] = found

    return setup


async def _own_contact(request: web.Request, tenant_id: int, error_id: str = "call-not-found") -> str:
    """The path's contact id, if it is one of the supervisor's tenant (else 404, before the
    body is read or the PBX asked)."""
    contact_id = request.match_info["id"]
    async with request.app[keys.SESSIONS]() as s:
        if await contacts_repo.get(s, contact_id, tenant_id) is None:
            raise NotFound("no such contact", error_id=error_id)
    return contact_id


@routes.get("/supervisor")
async def page(request: web.Request) -> web.Response:
    found = await signed_in(request)
    if found is None:
        raise web.HTTPSeeOther("/agent/login")
    sess, agent, tenant = await supervisor_of(request)
    return render("supervisor.html", agent=agent, tenant=tenant, csrf=sess.csrf)


@routes.get("/supervisor/api/pending")
async def pending(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    queue = request.app[keys.QUEUE]
    async with request.app[keys.SESSIONS]() as s:
        rows = list(await s.scalars(
            select(Contact).where(Contact.tenant_id == tenant.id, Contact.state.in_(WAITING))
            .order_by(Contact.priority.desc(), Contact.arrived_at)))
        agents = list(await s.scalars(select(Agent).where(Agent.tenant_id == tenant.id)
                                      .order_by(Agent.display_name)))
    now = dt.datetime.now(dt.UTC)
    contacts: list[dict[str, Any]] = []
    for c in rows:
        view = queue.view(c.id)
        contacts.append({
            "id": c.id, "medium": c.medium, "state": c.state, "priority": c.priority,
            "from": c.caller_number or c.caller_name or "", "attributes": public_attributes(c),
            "waited_s": round((now - (c.queued_at or c.arrived_at)).total_seconds()),
            "position": view.position if view else None,
            "predicted_wait_s": round(view.predicted_wait_s) if view and view.predicted_wait_s < 1e9
            else None,
            "not_before": c.not_before.isoformat() if c.not_before else None,
        })
    return web.json_response({
        "contacts": contacts,
        # reason: why ccari made the agent not ready (missed_offer, in_call, call_lost),
        # else null;
        # held_back_for: the waiting calls her capacity is held back for (fair blending).
        "agents": [{"id": a.id, "name": a.display_name, "state": queue.agent_state(a.id),
                    "reason": queue.agent_reason(a.id),
                    "held_back_for": queue.held_back_for(a.id)} for a in agents],
    })


@routes.post("/supervisor/api/contacts/{id}/priority")
async def set_priority(request: web.Request) -> web.Response:
    sess, _, tenant = await supervisor_of(request)
    check_csrf_header(request, sess)
    contact_id = await _own_contact(request, tenant.id, "contact-not-found")
    priority = (await json_object(request)).get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
        raise BadRequest("priority must be a whole number from -100 to 100", error_id="bad-priority")
    await request.app[keys.QUEUE].reprioritise(tenant.id, contact_id, priority)
    return web.json_response({"id": contact_id, "priority": priority})


@routes.post("/supervisor/api/contacts/{id}/schedule")
async def set_schedule(request: web.Request) -> web.Response:
    sess, _, tenant = await supervisor_of(request)
    check_csrf_header(request, sess)
    raw = (await json_object(request)).get("not_before")
    when: float | None = None
    if raw is not None:
        try:
            parsed = dt.datetime.fromisoformat(str(raw))
        except ValueError:
            raise BadRequest("not_before must be an ISO 8601 time", error_id="bad-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        when = parsed.timestamp()
        if when > time.time() + 30 * 86400:
            raise BadRequest("at most 30 days ahead", error_id="bad-time")
    contact_id = request.match_info["id"]
    async with request.app[keys.SESSIONS]() as s:
        contact = await contacts_repo.get(s, contact_id, tenant.id)
    callbacks = request.app.get(callbacks_http.SERVICE)
    if contact is not None and contact.medium == "callback" and callbacks is not None:
        # A callback's time belongs to the callbacks context (its attempts and window).
        at = dt.datetime.fromtimestamp(when if when is not None else time.time(), dt.UTC)
        await callbacks.reschedule_contact(tenant.id, contact_id, at)
    else:
        await request.app[keys.QUEUE].reschedule(tenant.id, contact_id, when)
    return web.json_response({"id": contact_id, "not_before": raw})


@routes.get("/supervisor/api/calls")
async def live_calls(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    supervision = request.app.get(SUPERVISION)
    async with request.app[keys.SESSIONS]() as s:
        rows = list(await s.scalars(
            select(Contact).where(Contact.tenant_id == tenant.id, Contact.medium.in_(CALLS),
                                  Contact.state.in_(IN_PROGRESS))
            .order_by(Contact.arrived_at)))
        names = dict((await s.execute(select(Agent.id, Agent.display_name)
                                      .where(Agent.tenant_id == tenant.id))).tuples().all())
    now = dt.datetime.now(dt.UTC)
    calls: list[dict[str, Any]] = []
    for c in rows:
        since = {"connected": c.connected_at, "queued": c.queued_at,
                 "offered": c.queued_at}.get(c.state) or c.arrived_at
        agent = ({"id": c.agent_id, "name": names.get(c.agent_id, "")}
                 if c.agent_id is not None and c.state in ("offered", "connected") else None)
        calls.append({
            "id": c.id, "state": c.state, "from": c.caller_number or "",
            "name": c.caller_name or "", "attributes": public_attributes(c), "agent": agent,
            "in_state_s": round((now - since).total_seconds()),
            "since_arrival_s": round((now - c.arrived_at).total_seconds()),
            **(supervision.live(c.id) if supervision is not None else {}),
        })
    return web.json_response({"calls": calls})


def contact_page(contact_id: str) -> str:
    return f"/agent/contacts/{contact_id}"


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(FINISHED_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit must be a whole number", error_id="bad-limit") from None
    if not 1 <= limit <= FINISHED_MAX:
        raise BadRequest(f"limit must be from 1 to {FINISHED_MAX}", error_id="bad-limit")
    return limit


@routes.get("/supervisor/api/finished")
async def finished(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    limit = _limit(request)
    kept = (select(func.count()).select_from(Recording)
            .where(Recording.contact_id == Contact.id, Recording.tenant_id == tenant.id,
                   Recording.state == "stored").scalar_subquery())
    async with request.app[keys.SESSIONS]() as s:
        rows = (await s.execute(
            select(Contact, kept).where(Contact.tenant_id == tenant.id,
                                        Contact.state.in_([st.value for st in lifecycle.ENDED]))
            .order_by(Contact.ended_at.desc(), Contact.arrived_at.desc()).limit(limit))).all()
        names = dict((await s.execute(select(Agent.id, Agent.display_name)
                                      .where(Agent.tenant_id == tenant.id))).tuples().all())
    return web.json_response({"contacts": [{
        "id": c.id, "medium": c.medium, "state": c.state,
        "from": c.caller_number or c.caller_name or "",
        "agent": names.get(c.agent_id) if c.agent_id is not None else None,
        "arrived_at": c.arrived_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "recordings": recordings, "page": contact_page(c.id),
    } for c, recordings in rows]})


def _supervision(request: web.Request) -> Supervision:
    found = request.app.get(SUPERVISION)
    if found is None:
        raise Conflict("no PBX: calls cannot be monitored", error_id="no-pbx")
    return found


@routes.post("/supervisor/api/calls/{id}/monitor")
async def monitor(request: web.Request) -> web.Response:
    sess, agent, tenant = await supervisor_of(request)
    check_csrf_header(request, sess)
    contact_id = await _own_contact(request, tenant.id)
    raw = (await json_object(request)).get("mode")
    try:
        mode = Mode(raw if isinstance(raw, str) else "")
    except ValueError:
        raise BadRequest("mode must be one of " + ", ".join(m.value for m in Mode),
                         error_id="bad-mode") from None
    view = await _supervision(request).monitor(agent, contact_id, mode)
    return web.json_response(view)


@routes.delete("/supervisor/api/calls/{id}/monitor")
async def stop_monitoring(request: web.Request) -> web.Response:
    sess, agent, tenant = await supervisor_of(request)
    check_csrf_header(request, sess)
    contact_id = await _own_contact(request, tenant.id)
    return web.json_response(await _supervision(request).stop(agent, contact_id))
