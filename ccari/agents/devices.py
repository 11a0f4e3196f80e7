"""What an agent answers calls with: a SIP phone, or the agent page itself (WebRTC).

A browser agent's PJSIP password is never typed: each login replaces it with a random one
(:func:`new_sip_password`) that only the logged-in page receives (``GET /agent/api/phone``),
and logging out replaces it again, so a password lives as long as one login.  Asterisk
checks it with ordinary SIP digest authentication: no token scheme of its own to trust.
"""

from __future__ import annotations

import secrets
from typing import Any

SIP = "sip"
BROWSER = "browser"
DEVICES = (SIP, BROWSER)
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
