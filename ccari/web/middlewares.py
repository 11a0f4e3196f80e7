"""Error mapping (one place), security headers and Origin checks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, web
from aiohttp.http_exceptions import BadHttpMessage

from ccari import keys
from ccari.errors import CcariError
from ccari.storage.db import database_away

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def error_response(error_id: str, message: str, status: int) -> web.Response:
    return web.json_response({"error": error_id, "message": message}, status=status)


# The request's websocket, once its handshake is answered.
SOCKET: web.RequestKey[web.WebSocketResponse] = web.RequestKey("socket", web.WebSocketResponse)


async def note_socket(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a websocket's handshake is answered; past it an error can
    only close the socket (an HTTP answer written into it would garble the stream)."""
    if isinstance(response, web.WebSocketResponse):
        request[SOCKET] = response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        socket: web.WebSocketResponse | None = request.get(SOCKET)
        if socket is None:
            return _answer(request, exc)
        if isinstance(exc, CcariError) and exc.status < 500:
            # 4000 + the HTTP status: the application's own range of close codes
            await socket.close(code=4000 + exc.status, message=exc.error_id.encode()[:120])
        else:
            log.exception("websocket failed: %s", request.path)
            await socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
        return socket


def _answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The HTTP answer to a handler's error (called while it is being handled)."""
    if isinstance(exc, CcariError):
        if exc.outage:
            log.warning("%s %s: %s: %s", request.method, request.path, exc.error_id, exc)
        elif exc.status >= 500:
            log.exception("request failed: %s %s", request.method, request.path)
        return error_response(exc.error_id, exc.message, exc.status)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400 or exc.content_type != "text/plain":
            raise exc  # a redirect, or an answer of its own
        error_id = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
            exc.status, "http-error"
        )
        return error_response(error_id, exc.reason, exc.status)
    if isinstance(exc, BadHttpMessage):  # a body the handler streams (a multipart form)
        return error_response("bad-body", "the request body cannot be read", 400)
    if database_away(exc):  # an outage, not a bug: no traceback; the client retries
        log.warning("database unavailable: %s %s: %s", request.method, request.path,
                    type(exc).__name__)
        resp = error_response("database-unavailable",
                              "the database is unavailable; try again shortly", 503)
        cfg = request.app.get(keys.CONFIG)
        resp.headers["Retry-After"] = str(cfg.database.retry_after_s if cfg else 5)
        return resp
    log.exception("unhandled error: %s %s", request.method, request.path)
    return error_response("internal-error", "internal error", 500)


SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every response gets the headers, redirects and errors included."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:  # redirects (and errors ``errors`` let through)
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    if not resp.prepared:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)
    return resp


def same_origin(request: web.Request) -> bool:
    """True when a browser request comes from the page's own origin (websockets, POSTs)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser cross-origin request
    host = request.headers.get("Host", "")
    return origin in {f"http://{host}", f"https://{host}"}
