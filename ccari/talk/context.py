"""What a "talk now" call carries: signed, short-lived, never trusted from the browser.

Two signed forms of the same facts (tenant, customer session, page URL, topic, the
anonymous SIP identity, the session's chat and co-browsing):

* the **ticket** (``POST /v1/talk/tickets``) the widget opens the relay with: valid
  ``ticket_s`` seconds and used once (:class:`UsedTickets`);
* the **call context** the relay puts into the INVITE it passes to Asterisk
  (``X-Ccari-Web``), which the dialplan hands to Stasis and the voice side verifies.

Both are stateless (itsdangerous), so any node can check them.  Single use is per node:
a ticket replayed to another node within its few seconds is not detected (a shared store
would be the next step for a multi-node deployment).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ccari.errors import Forbidden, Unauthorized

#: The SIP user every tenant's widget calls (the relay allows no other destination).
TARGET = "talk"
#: The host part of the widget's SIP URIs (Asterisk identifies the call by a header).
DOMAIN = "ccari.invalid"
#: Longest page URL kept with a call (it travels in a SIP header through the dialplan).
MAX_PAGE_URL = 1000


@dataclass(frozen=True)
class WebCall:
    tenant_id: int
    session_id: str
    identity: str  # the anonymous SIP user of this ticket, e.g. "web-3f9c..."
    page_url: str
    topic: str | None = None
    chat_id: str | None = None  # the session's chat contact (found by ccari, not sent)
    cobrowse_id: str | None = None  # the session's co-browsing, if one is going on
    video: bool = False  # a video call (a video contact: an agent with a video slot)

    def _dump(self) -> dict[str, object]:
        return {"t": self.tenant_id, "s": self.session_id, "i": self.identity,
                "u": self.page_url, "k": self.topic, "c": self.chat_id, "b": self.cobrowse_id,
                "v": self.video}

    @classmethod
    def _load(cls, data: object) -> WebCall:
        if not isinstance(data, dict):
            raise ValueError("not an object")

        def opt(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        return cls(int(data["t"]), str(data["s"]), str(data["i"]), str(data["u"]),
                   opt("k"), opt("c"), opt("b"), data.get("v") is True)


def new_identity() -> str:
    """The anonymous SIP user of one ticket: the only From the relay lets through."""
    return "web-" + secrets.token_hex(12)


class Signer:
    """Tickets (``ticket_s``) and call contexts (``context_s``), one secret, two salts."""

    def __init__(self, secret_key: str, *, ticket_s: int = 30, context_s: int = 60) -> None:
        self._tickets = URLSafeTimedSerializer(secret_key, salt="ccari-talk-ticket")
        self._contexts = URLSafeTimedSerializer(secret_key, salt="ccari-talk-call")
        self.ticket_s = ticket_s
        self.context_s = context_s

    def ticket(self, call: WebCall) -> str:
        return self._tickets.dumps({**call._dump(), "n": secrets.token_hex(8)})

    def open_ticket(self, ticket: str) -> tuple[WebCall, str]:
        """The call a ticket allows and the ticket's own nonce (what single use keys on)."""
        data = _loads(self._tickets, ticket, self.ticket_s, what="ticket")
        return WebCall._load(data), str(data.get("n", ""))

    def context(self, call: WebCall) -> str:
        return self._contexts.dumps(call._dump())

    def open_context(self, value: str) -> WebCall:
        return WebCall._load(_loads(self._contexts, value, self.context_s, what="call context"))


def _loads(s: URLSafeTimedSerializer, value: str, max_age: int, *, what: str) -> dict[str, object]:
    try:
        data = s.loads(value, max_age=max_age)
    except SignatureExpired:
        raise Unauthorized(f"the {what} has expired", error_id="ticket-expired") from None
    except BadSignature:
        raise Unauthorized(f"invalid {what}", error_id="bad-ticket") from None
    if not isinstance(data, dict):
        raise Unauthorized(f"invalid {what}", error_id="bad-ticket")
    try:
        WebCall._load(data)
    except (KeyError, TypeError, ValueError):
        raise Unauthorized(f"invalid {what}", error_id="bad-ticket") from None
    return data


class UsedTickets:
    """The nonces of tickets already used on this node, kept until they would have expired."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._used: dict[str, float] = {}

    def use(self, nonce: str) -> None:
        now = self._clock()
        for old in [n for n, until in self._used.items() if until <= now]:
            del self._used[old]
        if nonce in self._used:
            raise Forbidden("this ticket was used already; ask for a new one",
                            error_id="ticket-used")
        self._used[nonce] = now + self._ttl
