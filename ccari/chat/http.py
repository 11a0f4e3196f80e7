"""The customer's side of chat on the public listener.

``GET /v1/chat/ws?token=...`` (Origin checked against the tenant's sites).  Page -> server:

* ``{"type": "open", "topic"?: "sales", "page_url": ..., "name"?: ..., "address"?: ...}``
* ``{"type": "message", "body": ..., "client_id"?: ...}`` (acknowledged by its echo with a seq)
* ``{"type": "typing", "typing": true|false}``, ``{"type": "wait"}``, ``{"type": "close"}``

Server -> page: ``state`` {state: none|queued|connected|closed, anticipated_wait_s, agent},
``message`` {seq, sender, body, at, agent}, ``typing``, ``wait``, ``error`` {error, message}.
On connect the server sends the state then the whole transcript; the page drops the seqs it
already shows.

``POST /v1/chat/transcript`` {address}: the session's latest chat by email.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccari import keys, logs
from ccari.chat import mail
from ccari.chat.services import ChatService
from ccari.config import SmtpConfig
from ccari.errors import BadRequest, CcariError, NotFound
from ccari.public import http as public_http
from ccari.public.tokens import CustomerSession
from ccari.web.bodies import json_object
from ccari.web.sockets import json_objects

log = logging.getLogger(__name__)
CHAT: web.AppKey[ChatService] = web.AppKey("chat")
SMTP: web.AppKey[SmtpConfig] = web.AppKey("chat_smtp")


def public_setup(service: ChatService, smtp: SmtpConfig) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[CHAT] = service
        app[SMTP] = smtp
        app.router.add_get("/v1/chat/ws", websocket)
        app.router.add_post("/v1/chat/transcript", transcript)

    return setup


async def websocket(request: web.Request) -> web.WebSocketResponse:
    sess = await public_http.customer(request)
    service = request.app[CHAT]
    ws = web.WebSocketResponse(heartbeat=25, max_msg_size=16 * 1024)
    await ws.prepare(request)
    await service.attach(sess, ws)
    try:
        async for data in json_objects(ws):
            about = service.open_chat_of(sess)  # the lines of this message name its chat
            try:
                with logs.contact(about, sess.tenant_id) if about else contextlib.nullcontext():
                    reply = await _dispatch(service, sess, request, data)
            except CcariError as exc:
                if exc.status >= 500:
                    log.exception("chat request %s failed", data.get("type"))
                reply = {"type": "error", "error": exc.error_id, "message": exc.message,
                         "request": data.get("type")}
            except Exception:  # a bug or the database: this request fails, the chat goes on
                log.exception("chat request %s failed", data.get("type"))
                reply = {"type": "error", "error": "internal-error",
                         "message": "not done; please try again", "request": data.get("type")}
            if reply is not None:
                await ws.send_json(reply)
    finally:
        await service.detach(sess, ws)
    return ws


async def _dispatch(service: ChatService, sess: CustomerSession, request: web.Request,
                    data: dict[str, Any]) -> dict[str, Any] | None:
    kind = data.get("type")
    if kind == "message":
        await service.customer_says(sess, data.get("body"),  # type: ignore[arg-type]
                                    _text(data, "client_id", 64))
        return None  # the echo to every page of the session is the acknowledgement
    if kind == "typing":
        await service.customer_typing(sess, data.get("typing") is True)
        return None
    if kind == "wait":
        service.limiters.wait_polls_per_session.check(sess.session_id, "wait requests")
        contact_id = service.open_chat_of(sess)
        return {"type": "wait", **(service.wait_of(contact_id) if contact_id else {})}
    if kind == "open":
        await service.open(sess, public_http.client_ip(request),
                           topic=_text(data, "topic", 64),
                           page_url=public_http.page_url(data.get("page_url")),
                           name=_text(data, "name", 100),
                           address=mail.valid_address(data["address"]) if data.get("address")
                           else None)
        return None  # the new state goes to every page of the session
    if kind == "close":
        await service.customer_closes(sess)
        return None
    raise BadRequest(f"unknown message type {kind!r}", error_id="unknown-message")


def _text(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"{name} must be text of at most {limit} characters",
                         error_id=f"bad-{name.replace('_', '-')}")
    return value


async def transcript(request: web.Request) -> web.Response:
    sess = await public_http.customer(request)
    service = request.app[CHAT]
    data = await json_object(request)
    address = mail.valid_address(data.get("address"))
    service.limiters.transcripts_per_session.check(sess.session_id, "transcripts")
    contact_id = await service.latest_chat_of(sess)
    if contact_id is None:
        raise NotFound("this session has no chat", error_id="chat-not-found")
    await mail.send_transcript(request.app[keys.SESSIONS], request.app[SMTP],
                               sess.tenant_id, contact_id, address)
    return web.json_response({"sent_to": address})
