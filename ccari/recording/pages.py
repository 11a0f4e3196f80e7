"""The contact's page and its recordings' audio, for the tenant's supervisors (and for the
agent who handled the contact, if the tenant's policy has ``agent_playback`` on:
``viewing.py`` decides).  The agent session's cookie is the credential, so the page's
``<audio>`` elements play without a token in the URL.

* ``GET /agent/contacts/{id}``: the contact (who, when, agent, disposition), its recordings
  (length, who was recorded, a player each) and its event log.
* ``GET /agent/recordings/{id}/audio``: the WAV, checked against its SHA-256; a ``Range``
  request gets its part (206), so the player can seek.

A contact or recording the viewer may not open, of her tenant or another, is a 404
(``contact-not-found``, ``recording-not-found``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from ccari import keys
from ccari.agents.access import signed_in
from ccari.contacts import repo
from ccari.errors import NotFound, Unauthorized
from ccari.recording import viewing
from ccari.recording.http import LIBRARY, audio_response
from ccari.storage.models import Agent, Contact, Tenant
from ccari.web.pages import render


def add_routes(app: web.Application) -> None:
    app.router.add_get("/agent/contacts/{id}", contact_page)
    app.router.add_get("/agent/recordings/{id}/audio", recording_audio)


async def _viewer(request: web.Request) -> tuple[Agent, Tenant] | None:
    found = await signed_in(request)
    return (found[1], found[2]) if found is not None else None


def _may_open(viewer: Agent, tenant: Tenant, contact: Contact | None) -> bool:
    return contact is not None and contact.tenant_id == viewer.tenant_id and viewing.may_open(
        viewer.role, viewer.id, viewing.handled_by(contact.agent_id, contact.meta),
        tenant.recording)


async def contact_page(request: web.Request) -> web.Response:
    found = await _viewer(request)
    if found is None:
        raise web.HTTPSeeOther("/agent/login")
    viewer, tenant = found
    async with request.app[keys.SESSIONS]() as s:
        contact = await repo.get(s, request.match_info["id"], viewer.tenant_id)
        if contact is None or not _may_open(viewer, tenant, contact):
            raise NotFound("no such contact", error_id="contact-not-found")
        events = await repo.events(s, tenant.id, contact.id)
        names = dict((await s.execute(select(Agent.id, Agent.display_name)
                                      .where(Agent.tenant_id == tenant.id))).tuples().all())
    recordings = await request.app[LIBRARY].recordings(tenant.id, contact.id)
    log = [viewing.Event(e.kind, e.data or {}) for e in events]
    caller = contact.caller_number or contact.caller_name or "the caller"
    rows: list[dict[str, Any]] = []
    for r in reversed(recordings):  # oldest first, as the call went
        heard = viewing.heard(log, r["id"])
        who = ([caller] if heard.caller else []) + [
            names.get(a, f"agent {a}") for a in heard.agent_ids] + [
            p.get("agent") or p.get("number", "") for p in heard.parties]
        rows.append({**r, "heard": who,
                     "src": f"/agent/recordings/{r['id']}/audio" if r["audio"] else None})
    return render("contact.html", viewer=viewer, tenant=tenant, contact=contact, caller=caller,
                  agent=names.get(contact.agent_id) if contact.agent_id is not None else None,
                  recordings=rows, events=events)


async def recording_audio(request: web.Request) -> web.StreamResponse:
    found = await _viewer(request)
    if found is None:
        raise Unauthorized("log in first", error_id="login-required")
    viewer, tenant = found
    library = request.app[LIBRARY]
    row = await library.row(viewer.tenant_id, request.match_info["id"])
    async with request.app[keys.SESSIONS]() as s:
        contact = await repo.get(s, row.contact_id, viewer.tenant_id)
    if not _may_open(viewer, tenant, contact):
        raise NotFound("no such recording", error_id="recording-not-found")
    return await audio_response(request, library, row)
