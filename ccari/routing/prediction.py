"""Wait-time arithmetic: handle-time statistics, slot release times, Erlang C, app_queue's formula.

ccari's predictor (see :mod:`ccari.routing.waits`) looks at the actual state: how many items are
ahead of an item among those competing for its agents, and when each slot of those agents is
expected to free, given how long its current item has already lasted and the handle-time
distribution of such items (:meth:`HandleTimes.residual`, the mean residual life). Then the
item's expected start is the time of the slot release that reaches it (:func:`release_time`).

Two classic predictors, for comparison and as a fallback: Erlang C (M/M/N, stationary: only
arrival rate, mean handle time and staffing) and Asterisk app_queue's ``holdtime``, an
exponential average of past waits (``(3 * old + new) / 4``, in integer seconds).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ccari.routing.model import Medium

ALL_SKILLS = "*"
"""The skill key under which every handle time of a tenant and medium is also recorded."""

MIN_SAMPLES = 5
"""Below this many samples a key falls back to the tenant-and-medium aggregate."""


class _Samples:
    """The last ``window`` handle times of one key, kept sorted, with suffix sums on demand."""

    def __init__(self, window: int) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.ordered: list[float] = []
        self.total = 0.0
        self._suffix: list[float] | None = None

    def add(self, seconds: float) -> None:
        if len(self.recent) == self.recent.maxlen:
            old = self.recent[0]
            del self.ordered[bisect_right(self.ordered, old) - 1]
            self.total -= old
        self.recent.append(seconds)
        insort(self.ordered, seconds)
        self.total += seconds
        self._suffix = None

    def mean(self) -> float:
        return self.total / len(self.ordered)

    def residual(self, elapsed: float) -> float:
        """``E[H - elapsed | H > elapsed]`` over the samples."""
        ordered = self.ordered
        n = len(ordered)
        i = bisect_right(ordered, elapsed)
        if i == n:
            # Longer than every sample seen: assume it ends soon, not never.
            return 0.25 * self.mean()
        if self._suffix is None:
            suffix = [0.0] * (n + 1)
            for j in range(n - 1, -1, -1):
                suffix[j] = suffix[j + 1] + ordered[j]
            self._suffix = suffix
        return self._suffix[i] / (n - i) - elapsed


@dataclass
class HandleTimes:
    """Handle-time statistics per ``(tenant, medium, skill)``; ``skill`` is :func:`skill_of`."""

    window: int = 400
    _samples: dict[tuple[str, Medium, str], _Samples] = field(default_factory=dict)

    def record(self, tenant: str, medium: Medium, skill: str, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("a handle time must be a finite number of seconds >= 0")
        keys = {(tenant, medium, skill), (tenant, medium, ALL_SKILLS)}
        for key in sorted(keys):
            self._samples.setdefault(key, _Samples(self.window)).add(seconds)

    def _find(self, tenant: str, medium: Medium, skill: str) -> _Samples | None:
        for key in ((tenant, medium, skill), (tenant, medium, ALL_SKILLS)):
            samples = self._samples.get(key)
            if samples is not None and len(samples.ordered) >= MIN_SAMPLES:
                return samples
        return None

    def mean(self, tenant: str, medium: Medium, skill: str) -> float | None:
        samples = self._find(tenant, medium, skill)
        return None if samples is None else samples.mean()

    def residual(self, tenant: str, medium: Medium, skill: str, elapsed: float) -> float | None:
        """Expected remaining handle time of an item handled for ``elapsed`` seconds."""
        samples = self._find(tenant, medium, skill)
        return None if samples is None else samples.residual(max(elapsed, 0.0))


def release_time(residuals: Sequence[float], handle: float, ahead: float) -> float:
    """When the slot for an item with ``ahead`` items before it is expected to free.

    Each slot frees after its residual, then every ``handle`` seconds; the item takes the
    ``ahead``-th release (0-based). A fractional ``ahead`` interpolates. ``inf`` without slots.
    """
    if not residuals:
        return math.inf
    if ahead <= 0:
        return max(min(residuals), 0.0)
    whole = math.floor(ahead)
    low = _nth_release(residuals, handle, whole)
    if ahead == whole:
        return low
    high = _nth_release(residuals, handle, whole + 1)
    return low + (ahead - whole) * (high - low)


def _nth_release(residuals: Sequence[float], handle: float, n: int) -> float:
    """The ``n``-th (0-based) time in the merged sequences ``r_i + k * handle``."""
    slots = sorted(max(r, 0.0) for r in residuals)
    handle = max(handle, 1e-9)
    last = slots[-1]
    # Releases strictly before the last residual; from there on, each ``handle`` seconds bring
    # exactly one release per slot, so the sequence is periodic with period ``len(slots)``.
    before = sum(math.ceil((last - r) / handle) for r in slots)
    if n >= before + len(slots):
        rounds, n = divmod(n - before, len(slots))
        return _nth_release(slots, handle, before + n) + rounds * handle
    heap = list(slots)
    heapq.heapify(heap)
    for _ in range(n):
        heapq.heapreplace(heap, heap[0] + handle)
    return heap[0]


def erlang_c(servers: int, traffic: float) -> float:
    """Probability that an arrival waits in an M/M/N queue offered ``traffic`` erlangs."""
    if servers <= 0 or traffic >= servers:
        return 1.0
    if traffic <= 0:
        return 0.0
    blocking = 1.0  # Erlang B, by the stable recurrence
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return servers * blocking / (servers - traffic * (1.0 - blocking))


def erlang_c_wait(servers: int, arrival_rate: float, handle_time: float) -> float:
    """Mean wait (ASA) in M/M/N; ``inf`` when the load reaches the staffing."""
    traffic = arrival_rate * handle_time
    if servers <= 0 or traffic >= servers:
        return math.inf
    return erlang_c(servers, traffic) * handle_time / (servers - traffic)


@dataclass
class AppQueueHoldtime:
    """Asterisk app_queue's estimate: ``holdtime = (3 * old + new) >> 2`` on each answered call.

    ``new`` is the caller's wait in whole seconds; the queue starts at 0. The announced estimate
    is the current ``holdtime`` (minus what the caller has already waited, at least 0).
    """

    holdtime: int = 0

    def record(self, waited: float) -> None:
        self.holdtime = ((self.holdtime << 2) - self.holdtime + int(waited)) >> 2

    def estimate(self, waited: float = 0.0) -> float:
        return float(max(self.holdtime - int(waited), 0))
