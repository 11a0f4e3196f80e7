"""Talk now on the public listener (customer side only, nothing of the internal side):

* ``POST /v1/talk/tickets`` {page_url, topic?, video?} (customer token, origin, rate limits per
  session and per address) -> 201 {ticket, expires_in, ws_path, uri, target}: a ticket for
  one call, valid ``expires_in`` seconds, for one anonymous SIP identity (``uri``).
  403 ``talk-now-disabled`` where the tenant does not offer it, 400 ``bad-topic``,
  ``bad-video``.  ``video``: a video call, queued as a video contact (the same setting
  offers both); 409 ``video-unavailable`` while no staffed agent (for the topic) can take
  video, as ``POST /v1/sessions`` announces in ``video_call``.
* ``GET /v1/talk/ws?ticket=...``: the page's SIP websocket (subprotocol ``sip``), relayed
  to Asterisk (:mod:`ccari.talk.relay`); the re-INVITE that switches a video call to audio
  only is seen there and saved in the contact's log (``audio-only``).  The socket is the
  call's line: closed, or silent past the dead-call time, with the call up, the call is hung
  up (``caller-page-lost``).  401
  ``bad-ticket``/``ticket-expired``, 403 ``ticket-used`` (single use), 403 ``bad-origin``
  (not one of the tenant's sites).
* ``GET/PUT /api/talk/settings`` {talk_now} (internal listener, the tenant's token): does
  the tenant's widget offer talk now (off unless turned on; other nodes see a change
  within the origin cache's 10 s).
* ``GET /talk/jssip.min.js``, ``GET /talk/video-watch.js``, ``GET /talk/talk.js``: what
  the widget loads for a call (the vendored JsSIP, its license beside it, the video call's
  watch on the agent's video shared with the agent page's phone, and ``widget-talk.js``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.errors import BadRequest, Conflict, Forbidden
from ccari.public import http as public_http
from ccari.public import repo as public_repo
from ccari.public.models import TenantSite
from ccari.public.waits import can_take
from ccari.routing import Medium
from ccari.talk import relay as talk_relay
from ccari.talk import repo as talk_repo
from ccari.talk.context import DOMAIN, MAX_PAGE_URL, TARGET, Signer, UsedTickets, WebCall, new_identity
from ccari.talk.sip import Dialog
from ccari.web.bodies import json_object
from ccari.web.pages import STATIC
from ccari.web.sip_relay import SipRelay

WS_PATH = "/v1/talk/ws"
JSSIP = STATIC / "vendor" / "jssip" / "jssip.min.js"
TALK_JS = STATIC / "widget-talk.js"
SCRIPTS = {"/talk/jssip.min.js": JSSIP, "/talk/video-watch.js": STATIC / "video-watch.js",
           "/talk/talk.js": TALK_JS}


async def _nobody(call: WebCall) -> None:
    return None


@dataclass
class Talk:
    signer: Signer
    used: UsedTickets
    relay: SipRelay
    key: str  # the customer endpoint's key (ccari.pbx.spec.web_key)
    # Told when a page switches its video call to audio only (the voice side saves it; set
    # once the PBX side is wired).
    audio_only: Callable[[WebCall], None] = lambda call: None
    # Told when a page's websocket closed, or stopped answering, with its call up (the voice
    # side hangs the call up; set once the PBX side is wired).
    page_lost: Callable[[WebCall], Awaitable[None]] = _nobody


TALK: web.AppKey[Talk] = web.AppKey("talk", Talk)


def public_setup(talk: Talk) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[TALK] = talk
        app.router.add_post("/v1/talk/tickets", ticket)
        app.router.add_get(WS_PATH, websocket)
        for path in SCRIPTS:
            app.router.add_get(path, script)

    return setup


def internal_setup() -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app.router.add_get("/api/talk/settings", get_settings)
        app.router.add_put("/api/talk/settings", put_settings)

    return setup


async def get_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    return web.json_response({"talk_now": await request.app[keys.ORIGINS].talk_now(tenant_id)})


async def put_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    body = await json_object(request)
    talk_now = body.get("talk_now")
    if not isinstance(talk_now, bool):
        raise BadRequest("talk_now must be true or false", error_id="bad-talk-now")
    async with request.app[keys.SESSIONS]() as s:
        site = await s.scalar(select(TenantSite).where(TenantSite.tenant_id == tenant_id))
        if site is None:
            site = TenantSite(tenant_id=tenant_id, origins=[])
            s.add(site)
        site.talk_now = talk_now
        await s.commit()
    request.app[keys.ORIGINS].forget(tenant_id)
    return web.json_response({"talk_now": talk_now})


async def ticket(request: web.Request) -> web.Response:
    sess = await public_http.customer(request)
    limiters = request.app[public_http.LIMITERS]
    limiters.talk_tickets_per_session.check(sess.session_id, "calls")
    limiters.talk_tickets_per_ip.check(public_http.client_ip(request), "calls")
    if not await request.app[keys.ORIGINS].talk_now(sess.tenant_id):
        raise Forbidden("this site does not offer calls from the page",
                        error_id="talk-now-disabled")
    data = await json_object(request)
    page_url = public_http.page_url(data.get("page_url"))[:MAX_PAGE_URL]
    topic = data.get("topic") or None
    video = data.get("video", False)
    if not isinstance(video, bool):
        raise BadRequest("video must be true or false", error_id="bad-video")
    async with request.app[keys.SESSIONS]() as s:
        if topic is not None and (
                not isinstance(topic, str) or topic not in await public_repo.topics(s, sess.tenant_id)):
            raise BadRequest("no such topic", error_id="bad-topic")
        chat_id, cobrowse_id = await talk_repo.related(s, sess.tenant_id, sess.session_id)
    if video and not can_take(request.app[keys.QUEUE].router, sess.tenant_id, Medium.VIDEO,
                              {"skill": topic} if topic else {}, time.time()):
        raise Conflict("no agent can take a video call now; talk now is still possible",
                       error_id="video-unavailable")
    talk = request.app[TALK]
    call = WebCall(sess.tenant_id, sess.session_id, new_identity(), page_url, topic,
                   chat_id, cobrowse_id, video)
    return web.json_response({
        "ticket": talk.signer.ticket(call), "expires_in": talk.signer.ticket_s,
        "ws_path": WS_PATH, "uri": f"sip:{call.identity}@{DOMAIN}",
        "target": f"sip:{TARGET}@{DOMAIN}"}, status=201, headers={"Cache-Control": "no-store"})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    talk = request.app[TALK]
    call, nonce = talk.signer.open_ticket(request.query.get("ticket", ""))
    await public_http.allow_origin(request, call.tenant_id)
    talk.used.use(nonce)
    dialog = Dialog(call.identity, talk.key, talk.signer.context(call), video=call.video)

    async def lost(calls: frozenset[str]) -> None:  # the page's call (one per ticket)
        await talk.page_lost(call)

    return await talk.relay.serve(request, f"talk {dialog.identity}",
                                  talk_relay.frames(dialog, lambda: talk.audio_only(call)),
                                  lost, tenant_id=call.tenant_id)


async def script(request: web.Request) -> web.FileResponse:
    return web.FileResponse(SCRIPTS[request.path], headers={
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "public, max-age=300",
        "Cross-Origin-Resource-Policy": "cross-origin",  # loaded by the tenants' own sites
    })
