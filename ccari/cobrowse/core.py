"""Pure rules of co-browsing: short codes, limits, message checks, allowed URLs, the CSP.

No I/O here: the service and the HTTP handlers ask these functions and act on the answer.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CODE_DIGITS = 6
_CODE = re.compile(r"^[0-9]{6}$")
# Fields masked in the customer's browser whatever the tenant configures.
BASE_MASK = "[data-ccari-mask]"
# rrweb event types (rrweb's EventType): what a customer's batch may carry.
EVENT_TYPES = frozenset({0, 1, 2, 3, 4, 5, 6})
META = 4


@dataclass(frozen=True)
class Limits:
    """Per co-browse session; the defaults leave room for full snapshots of big pages."""

    max_message_bytes: int = 4 * 1024 * 1024
    max_events: int = 2000
    bytes_per_s: float = 1024 * 1024
    bytes_burst: float = 16 * 1024 * 1024
    messages_per_s: float = 60.0
    messages_burst: float = 240.0
    agent_messages_per_s: float = 40.0
    agent_messages_burst: float = 80.0
    link_attempts_per_min: float = 10.0


class TokenBucket:
    """``take(n)`` is True while the rate (``rate`` per second, up to ``burst``) allows."""

    def __init__(self, rate: float, burst: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._level = burst
        self._at = clock()

    def take(self, n: float = 1.0) -> bool:
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._at) * self._rate)
        self._at = now
        if n > self._level:
            return False
        self._level -= n
        return True


def new_code(taken: Iterable[str] = ()) -> str:
    """A random 6-digit code not in ``taken`` (the tenant's codes still in use)."""
    used = set(taken)
    if len(used) >= 10**CODE_DIGITS // 2:
        raise RuntimeError("too many co-browse codes in use")
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if code not in used:
            return code


def valid_code(code: object) -> bool:
    return isinstance(code, str) and bool(_CODE.match(code))


def check_events(data: Any, limits: Limits) -> list[dict[str, Any]]:
    """The rrweb events of a customer's ``{"type": "events", "events": [...]}`` message, or
    ValueError: only well-formed events of known types are relayed to the agent."""
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not events or len(events) > limits.max_events:
        raise ValueError("events must be a non-empty list")
    for event in events:
        if (not isinstance(event, dict) or event.get("type") not in EVENT_TYPES
                or not isinstance(event.get("timestamp"), int | float)):
            raise ValueError("not an rrweb event")
    return events


def page_of(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last page (URL, width, height) announced by a Meta event of the batch."""
    for event in reversed(events):
        data = event.get("data")
        if event.get("type") == META and isinstance(data, dict) and isinstance(data.get("href"), str):
            return {"url": data["href"][:2000], "width": data.get("width"),
                    "height": data.get("height")}
    return None


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_url(url: object, origins: Iterable[str]) -> bool:
    """May the agent send the customer to ``url``?  Only to the tenant's own sites."""
    if not isinstance(url, str) or len(url) > 2000 or any(c in url for c in "\r\n\t"):
        return False
    origin = origin_of(url)
    return origin is not None and origin in {o.rstrip("/").lower() for o in origins}


def mirror_csp(origins: Iterable[str]) -> str:
    """The mirror page's policy: no script but ccari's own; the replayed page's inline
    styles, images, fonts and the stylesheets rrweb could not inline from the tenant's
    sites.  The page may be framed by the agent page (same origin) only."""
    sites = " ".join(sorted(o for o in (origin_of(x) for x in origins) if o))
    extra = f" {sites}" if sites else ""
    return ("default-src 'self'; script-src 'self'; object-src 'none'; "
            f"style-src 'self' 'unsafe-inline'{extra}; img-src 'self' data: blob:{extra}; "
            f"font-src 'self' data:{extra}; media-src 'none'; connect-src 'self'; "
            "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
