"""Rate limits on everything that dials out: token buckets per IP, per number, per tenant.

Pure: the caller passes the time.  A request passes only if every bucket it touches has a
token; then one token is taken from each (a refused request takes none, so a number that is
refused for its own limit does not drain its tenant's).  In-process: each node limits what
reaches it.  Memory follows the recent requesters: a key whose bucket has refilled is as
good as none and is dropped (the least recently used first, one per request taken); past
``max_keys`` the least recently used goes even if it has not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccari.errors import TooManyRequests

if TYPE_CHECKING:
    from ccari.config import CallbacksConfig


@dataclass(frozen=True)
class Rate:
    """``burst`` requests at once, then one more every ``every_s`` seconds."""

    burst: int
    every_s: float


@dataclass(frozen=True)
class Limits:
    per_ip: Rate = Rate(5, 60.0)  # a browser may ask a few times, not script a campaign
    per_number: Rate = Rate(3, 600.0)  # nobody is called back more than ~6 times an hour
    per_tenant: Rate = Rate(60, 2.0)

    @classmethod
    def of(cls, c: CallbacksConfig) -> Limits:
        return cls(Rate(c.ip_burst, c.ip_every_s), Rate(c.number_burst, c.number_every_s),
                   Rate(c.tenant_burst, c.tenant_every_s))


class Buckets:
    def __init__(self, rate: Rate, max_keys: int = 50_000) -> None:
        self.rate = rate
        self._max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def tokens(self, key: str, now: float) -> float:
        tokens, at = self._state.get(key, (float(self.rate.burst), now))
        return min(float(self.rate.burst), tokens + max(0.0, now - at) / self.rate.every_s)

    def take(self, key: str, now: float) -> None:
        tokens = self.tokens(key, now) - 1.0
        self._state.pop(key, None)
        self._state[key] = (tokens, now)
        if len(self._state) > self._max_keys:
            self._state.popitem(last=False)
        oldest = next(iter(self._state))  # the least recently used (never ``key``: not full)
        if self.tokens(oldest, now) >= self.rate.burst:
            del self._state[oldest]  # refilled: as good as none (one a request: O(1))

    def __len__(self) -> int:
        """How many keys' buckets are kept."""
        return len(self._state)


class Limiter:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buckets = {
            "ip": Buckets(self.limits.per_ip),
            "number": Buckets(self.limits.per_number),
            "tenant": Buckets(self.limits.per_tenant),
        }

    def peek(self, keys: Sequence[tuple[str, str]], now: float) -> str | None:
        """The first kind that would refuse (None: all would pass); takes nothing."""
        for kind, key in keys:
            if self._buckets[kind].tokens(key, now) < 1.0:
                return kind
        return None

    def allow(self, keys: Sequence[tuple[str, str]], now: float) -> str | None:
        """Take a token for each (kind, key) and return None, or the first kind refusing."""
        refused = self.peek(keys, now)
        if refused is not None:
            return refused
        for kind, key in keys:
            self._buckets[kind].take(key, now)
        return None

    def check(self, now: float, *, ip: str | None = None, number: str | None = None,
              tenant_id: int | None = None) -> None:
        keys = [(kind, key) for kind, key in (
            ("ip", ip), ("number", number), ("tenant", None if tenant_id is None else str(tenant_id)))
            if key is not None]
        refused = self.allow(keys, now)
        if refused is not None:
            raise TooManyRequests(f"too many callback requests (per {refused}); try again later",
                                  error_id="rate-limited")
