"""Voicemail audio for the agent handling it, and a tenant's messages over its API.

* ``GET /agent/voicemails/{id}``: the audio, for the agent the voicemail is offered or
  connected to (agent session cookie); anyone else gets 404 ``voicemail-not-found``.
* ``GET /api/voicemails``: the tenant's newest messages (tenant or admin token).
* ``GET /api/voicemails/{id}/audio``: one message's audio (tenant or admin token).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from sqlalchemy import select

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.agents.access import agent_of, in_hand
from ccari.errors import NotFound
from ccari.storage.models import Contact
from ccari.voicemail.models import Voicemail
from ccari.voicemail.services import MEDIUM, VoicemailService
from ccari.web.files import disposition

SERVICE = web.AppKey("voicemail", VoicemailService)
LIST_LIMIT = 200


def internal_setup(service: VoicemailService) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app.router.add_get("/agent/voicemails/{id}", agent_audio)
        app.router.add_get("/api/voicemails", list_voicemails)
        app.router.add_get("/api/voicemails/{id}/audio", tenant_audio)

    return setup


def _audio(row: Voicemail) -> web.Response:
    return web.Response(body=row.audio, content_type=row.content_type, headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": disposition("inline", f"voicemail-{row.id}.wav"),
    })


def _missing() -> NotFound:
    return NotFound("no such voicemail", error_id="voicemail-not-found")


async def agent_audio(request: web.Request) -> web.Response:
    _, agent, _ = await agent_of(request)
    contact_id = request.match_info["id"]
    if await in_hand(request, agent, contact_id, MEDIUM) is None:
        raise _missing()
    row = await request.app[SERVICE].audio(agent.tenant_id, contact_id)
    if row is None:
        raise _missing()
    return _audio(row)


async def tenant_audio(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    row = await request.app[SERVICE].audio(tenant_id, request.match_info["id"])
    if row is None:
        raise _missing()
    return _audio(row)


async def list_voicemails(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        rows = (await s.execute(
            select(Voicemail.id, Voicemail.duration_s, Voicemail.created_at, Voicemail.reason,
                   Contact.caller_number, Contact.caller_name, Contact.state, Contact.agent_id)
            .join(Contact, Contact.id == Voicemail.id)
            .where(Voicemail.tenant_id == tenant_id, Contact.tenant_id == tenant_id)
            .order_by(Voicemail.created_at.desc()).limit(LIST_LIMIT))).all()
    return web.json_response({"voicemails": [{
        "id": r.id, "duration_s": r.duration_s, "created_at": r.created_at.isoformat(),
        "reason": r.reason, "caller_number": r.caller_number, "caller_name": r.caller_name,
        "state": r.state, "agent_id": r.agent_id, "audio": f"/api/voicemails/{r.id}/audio",
    } for r in rows]})
