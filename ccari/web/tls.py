"""HTTPS on the web listeners (``web.tls_cert`` / ``web.tls_key``), and what it implies for
every answer: Strict-Transport-Security and Secure cookies.

Whether a request came over TLS is the transport's own fact (``request.secure``), so the
middleware needs no configuration: over plain HTTP nothing changes.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from ccari.config import WebConfig
from ccari.errors import ConfigError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HSTS = "max-age=31536000"


def server_context(cfg: WebConfig) -> ssl.SSLContext | None:
    """The listeners' TLS context (TLS 1.2 or later), None for plain HTTP; a certificate or
    key that cannot be loaded is a :class:`ConfigError` at start-up."""
    if not cfg.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"web.tls_cert / web.tls_key: cannot load them: {exc}") from None
    return context


def _harden(request: web.Request, resp: web.StreamResponse) -> None:
    if not request.secure:
        return
    resp.headers.setdefault("Strict-Transport-Security", HSTS)
    for morsel in resp.cookies.values():
        morsel["secure"] = True


@web.middleware
async def transport_security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Over TLS: HSTS on every answer (redirects and errors too), every cookie Secure."""
    try:
        resp = await handler(request)
    except web.HTTPException as exc:  # redirects raised with their cookies (login, logout)
        _harden(request, exc)
        raise
    if not resp.prepared:
        _harden(request, resp)
    return resp
