"""Rate limits of the public side: token buckets per key (an IP, a customer session).

Pure and in-process: each node limits what reaches it (a node behind a load balancer sees a
share of a client's requests, so the limits are per node).  Memory follows the clients of
the last refill time, not all clients ever seen: a bucket that has refilled is as good as
none and is dropped (the least recently used first, on each request); past ``max_keys`` the
least recently used is dropped even if it has not.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ccari.errors import TooManyRequests


@dataclass(frozen=True)
class Rate:
    """``burst`` requests at once, then one every ``every_s`` seconds."""

    burst: int
    every_s: float


@dataclass(frozen=True)
class PublicLimits:
    """The limits of the customer-facing endpoints (defaults in code; tests shrink them)."""

    sessions_per_ip: Rate = Rate(20, 6.0)
    chats_per_session: Rate = Rate(3, 300.0)
    chats_per_ip: Rate = Rate(10, 60.0)
    messages_per_session: Rate = Rate(20, 0.5)
    transcripts_per_session: Rate = Rate(3, 1200.0)
    wait_polls_per_session: Rate = Rate(20, 2.0)
    talk_tickets_per_session: Rate = Rate(3, 60.0)
    talk_tickets_per_ip: Rate = Rate(10, 60.0)


class Bucket:
    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 50_000) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        now = self._clock()
        tokens, at = self._tokens.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - at) / self.rate.every_s)
        allowed = tokens >= 1.0
        self._tokens[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._tokens) > self._max_keys:
            self._tokens.popitem(last=False)
        oldest = next(iter(self._tokens))  # the least recently used (never ``key``: not full)
        left, since = self._tokens[oldest]
        if left + (now - since) / self.rate.every_s >= self.rate.burst:
            del self._tokens[oldest]  # refilled: as good as none (one a request: O(1))
        return allowed

    def __len__(self) -> int:
        """How many clients' buckets are kept."""
        return len(self._tokens)

    def check(self, key: str, what: str) -> None:
        if not self.allow(key):
            raise TooManyRequests(f"too many {what}; try again later", error_id="rate-limited")


@dataclass
class Limiters:
    limits: PublicLimits = field(default_factory=PublicLimits)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        lim, clock = self.limits, self.clock
        self.sessions_per_ip = Bucket(lim.sessions_per_ip, clock)
        self.chats_per_session = Bucket(lim.chats_per_session, clock)
        self.chats_per_ip = Bucket(lim.chats_per_ip, clock)
        self.messages_per_session = Bucket(lim.messages_per_session, clock)
        self.transcripts_per_session = Bucket(lim.transcripts_per_session, clock)
        self.wait_polls_per_session = Bucket(lim.wait_polls_per_session, clock)
        self.talk_tickets_per_session = Bucket(lim.talk_tickets_per_session, clock)
        self.talk_tickets_per_ip = Bucket(lim.talk_tickets_per_ip, clock)
