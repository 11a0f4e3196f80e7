"""Passwords, API tokens, signed session cookies and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ccari.errors import Forbidden

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret with what a client sent (any text: the bytes are
    compared, since ``hmac.compare_digest`` refuses non-ASCII strings)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def check_csrf(expected: str | None, got: object) -> None:
    """A form's or request's CSRF token against its session's (403 ``csrf-failed``)."""
    if not expected or not isinstance(got, str) or not same_secret(expected, got):
        raise Forbidden("the form has expired; reload the page", error_id="csrf-failed")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """API tokens are long random strings: a plain SHA-256 is the right storage form."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AgentSession:
    agent_id: int
    tenant_id: int
    csrf: str
    epoch: int = 0  # the agent's session_epoch when it was issued


class SessionSigner:
    """Signs the agent session cookie (agent, tenant, the agent's session epoch and a
    per-session CSRF token)."""

    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._s = URLSafeTimedSerializer(secret_key, salt="ccari-agent-session")
        self._max_age = max_age_s

    def dump(self, agent_id: int, tenant_id: int, epoch: int = 0) -> str:
        return self._s.dumps({"a": agent_id, "t": tenant_id, "e": epoch,
                              "c": secrets.token_urlsafe(16)})

    def load(self, cookie: str) -> AgentSession | None:
        try:
            data = self._s.loads(cookie, max_age=self._max_age)
        except (BadSignature, SignatureExpired):
            return None
        try:
            return AgentSession(int(data["a"]), int(data["t"]), str(data["c"]),
                                int(data.get("e", 0)))
        except (KeyError, TypeError, ValueError):
            return None
