"""What an agent answers calls with: a SIP phone, or the agent page itself (WebRTC).

A browser agent's PJSIP password is never typed: each login replaces it with a random one
(:func:`new_sip_password`) that only the logged-in page receives (``GET /agent/api/phone``),
and logging out replaces it again, so a password lives as long as one login.  Asterisk
checks it with ordinary SIP digest authentication: no token scheme of its own to trust.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from ccari.web.sip_frames import one_message, split

SIP = "sip"
# A SIP phone over TLS with SRTP (SDES keys): needs pbx.sip_tls_port and its certificate.
SIP_TLS = "sip-tls"
BROWSER = "browser"
DEVICES = (SIP, SIP_TLS, BROWSER)
#: Where the agent page's SIP-over-WebSocket library connects (same origin as the page).
WS_PATH = "/agent/phone/ws"
#: The host part of the browser's SIP URI: Asterisk identifies the endpoint by its user.
SIP_DOMAIN = "ccari.invalid"


def new_sip_password() -> str:
    """32 URL-safe characters (192 bits): allowed in a PJSIP config value as they are."""
    return secrets.token_urlsafe(24)


def credentials(device: str, phone_username: str, phone_password: str) -> dict[str, Any]:
    """What the agent page needs to register its phone; a SIP phone agent gets no secret."""
    if device != BROWSER:
        return {"device": device}
    return {"device": device, "ws_path": WS_PATH, "username": phone_username,
            "password": phone_password, "uri": f"sip:{phone_username}@{SIP_DOMAIN}"}


_HEADER = re.compile(r"^(?P<name>[A-Za-z-]+)\s*:\s*(?P<value>.*)$")
_SIP_USER = re.compile(r"<?sips?:(?P<user>[^@;>\s]+)@", re.IGNORECASE)
_AUTH_USER = re.compile(r'\busername\s*=\s*"(?P<user>[^"]*)"', re.IGNORECASE)


def foreign_identity(frame: str, username: str) -> str | None:
    """Why a SIP message the page sends claims someone else, or None.

    The relay carries only the logged-in agent's own phone: a request that starts a dialog
    or registers (no tag in To) must come From her endpoint, and any credentials must be
    hers; so a page cannot guess other endpoints' passwords through ccari (Asterisk sees
    every relayed message from ccari's address).  Responses and in-dialog requests are
    Asterisk's dialogs with her endpoint and pass."""
    lines, sep, body = split(frame)
    if not one_message(lines, sep, body, length_required=False):
        return "more than one message in a frame"
    if not lines or lines[0].startswith("SIP/2.0"):
        return None  # a response
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        m = _HEADER.match(line)
        if m:
            name = {"f": "from", "t": "to"}.get(m["name"].lower(), m["name"].lower())
            headers.setdefault(name, []).append(m["value"])
    for name in ("authorization", "proxy-authorization"):
        for value in headers.get(name, []):
            auth = _AUTH_USER.search(value)
            if auth is None or auth["user"] != username:
                return f"credentials of {auth['user'] if auth else 'nobody'!r}"
    to = headers.get("to", [""])[0]
    if re.search(r";\s*tag=", to, re.IGNORECASE):
        return None  # in an existing dialog
    sender = _SIP_USER.search(headers.get("from", [""])[0])
    if sender is None or sender["user"] != username:
        return f"From {sender['user'] if sender else 'nobody'!r}"
    return None
