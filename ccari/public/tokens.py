"""Signed, short-lived customer session tokens: the public side's only credential.

A customer's browser gets one from ``POST /v1/sessions`` (tenant, page URL) and sends it
with every public request and websocket.  It names the tenant and a random session id;
nothing else about the customer is trusted from the browser.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ccari.errors import Unauthorized


@dataclass(frozen=True)
class CustomerSession:
    tenant_id: int
    session_id: str


class CustomerTokens:
    def __init__(self, secret_key: str, max_age_s: int = 2 * 3600) -> None:
        self._s = URLSafeTimedSerializer(secret_key, salt="ccari-customer-session")
        self.max_age_s = max_age_s

    def issue(self, tenant_id: int, session_id: str | None = None) -> tuple[str, CustomerSession]:
        """A new token (or a refreshed one for the same session, e.g. after a reload)."""
        sess = CustomerSession(tenant_id, session_id or secrets.token_urlsafe(16))
        return self._s.dumps({"t": sess.tenant_id, "s": sess.session_id}), sess

    def verify(self, token: str | None) -> CustomerSession:
        if not token:
            raise Unauthorized("a customer session token is required", error_id="token-required")
        try:
            data = self._s.loads(token, max_age=self.max_age_s)
            return CustomerSession(int(data["t"]), str(data["s"]))
        except SignatureExpired:
            raise Unauthorized("the session has expired", error_id="token-expired") from None
        except (BadSignature, KeyError, TypeError, ValueError):
            raise Unauthorized("invalid session token", error_id="bad-token") from None
