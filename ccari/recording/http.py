"""A tenant's call recordings over its API (tenant token, or the admin's with ``?tenant=``).

* ``GET /api/recordings[?contact=<id>]``: the newest recordings (of one contact).
* ``GET /api/recordings/{id}``: one recording (state, length, checksum, paused stretches).
* ``GET /api/recordings/{id}/audio``: its WAV, checked against its SHA-256 (``Range``
  requests answered 206; a range that cannot be read or starts past the end, 416
  ``bad-range``).
* ``DELETE /api/recordings/{id}``: deleted on request (file and row; the contact's log
  keeps who deleted it).

Another tenant's recording is 404 ``recording-not-found``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from ccari.admin.auth import principal, tenant_scope
from ccari.recording.library import Library
from ccari.recording.models import Recording
from ccari.web.files import disposition, range_refused

LIBRARY = web.AppKey("recordings", Library)


def internal_setup(library: Library) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[LIBRARY] = library
        app.router.add_get("/api/recordings", list_recordings)
        app.router.add_get("/api/recordings/{id}", get_recording)
        app.router.add_get("/api/recordings/{id}/audio", audio)
        app.router.add_delete("/api/recordings/{id}", delete_recording)

    return setup


async def list_recordings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    rows = await request.app[LIBRARY].recordings(tenant_id, request.query.get("contact"))
    return web.json_response({"recordings": rows})


async def get_recording(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    return web.json_response(await request.app[LIBRARY].get(tenant_id, request.match_info["id"]))


async def audio(request: web.Request) -> web.StreamResponse:
    tenant_id = await tenant_scope(request)
    library = request.app[LIBRARY]
    row = await library.row(tenant_id, request.match_info["id"])
    return await audio_response(request, library, row)


async def audio_response(request: web.Request, library: Library,
                         row: Recording) -> web.StreamResponse:
    """The recording's WAV; a ``Range`` request gets its part (206), so players can seek."""
    path = await library.audio_file(row)
    refused = range_refused(request, (await asyncio.to_thread(path.stat)).st_size)
    return refused or web.FileResponse(path, headers={
        "Content-Type": "audio/wav",
        "Cache-Control": "private, no-store",
        "Content-Disposition": disposition("inline", f"{row.id}.wav"),
    })


async def delete_recording(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    who = await principal(request)
    by = "admin" if who.tenant_id is None else "tenant"
    recording_id = request.match_info["id"]
    await request.app[LIBRARY].delete(tenant_id, recording_id, by)
    return web.json_response({"deleted": recording_id})
