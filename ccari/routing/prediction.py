"""Wait-time statistics and the classic predictors ccari is compared with.

:class:`HandleTimes` keeps the recent handle times per tenant, medium and skill, from which
:mod:`.releases` derives when busy slots will free. Two classic predictors, for comparison:
Erlang C (M/M/N, stationary: arrival rate, mean handle time, staffing only) and Asterisk
app_queue's ``holdtime``, an exponential average of past waits, ``(3 * old + new) >> 2`` in
integer seconds, updated when a caller is connected (``recalc_holdtime`` in app_queue.c).
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right, insort
from collections import deque
from dataclasses import dataclass, field

from ccari.routing.model import Medium

ALL_SKILLS = "*"
"""The skill key under which every handle time of a tenant and medium is also recorded."""

MIN_SAMPLES = 5
"""Below this many samples a key falls back to the tenant-and-medium aggregate."""

RENEWAL_SPAN = 6.0
"""Mean durations over which :meth:`Samples.renewal_excess` is solved (then held constant)."""
RENEWAL_STEPS = 96


class Samples:
    """The last ``window`` durations of one key, kept sorted, with prefix sums on demand."""

    def __init__(self, window: int) -> None:
        self.recent: deque[float] = deque(maxlen=window)
        self.ordered: list[float] = []
        self.total = 0.0
        self.squares = 0.0
        self._prefix: list[float] | None = None
        self._excess: list[float] | None = None

    def __len__(self) -> int:
        return len(self.ordered)

    def add(self, seconds: float) -> None:
        if len(self.recent) == self.recent.maxlen:
            old = self.recent[0]
            del self.ordered[bisect_right(self.ordered, old) - 1]
            self.total -= old
            self.squares -= old * old
        self.recent.append(seconds)
        insort(self.ordered, seconds)
        self.total += seconds
        self.squares += seconds * seconds
        self._prefix = None
        self._excess = None

    def mean(self) -> float:
        return self.total / len(self.ordered)

    def cv2(self) -> float:
        """Squared coefficient of variation (1 for exponential durations, 0 for fixed ones)."""
        m = self.mean()
        if m <= 0:
            return 0.0
        return max(self.squares / len(self.ordered) - m * m, 0.0) / (m * m)

    def _prefix_sums(self) -> list[float]:
        if self._prefix is None:
            prefix = [0.0]
            for value in self.ordered:
                prefix.append(prefix[-1] + value)
            self._prefix = prefix
        return self._prefix

    def survivors(self, elapsed: float) -> int:
        """How many samples last longer than ``elapsed``."""
        return len(self.ordered) - bisect_right(self.ordered, elapsed)

    def remaining(self, elapsed: float, t: float) -> tuple[float, float]:
        """For ``R = H - elapsed`` given ``H > elapsed``: ``(P(R <= t), E[(t - R)+])``.

        Needs ``survivors(elapsed) > 0``.
        """
        ordered = self.ordered
        low = bisect_right(ordered, elapsed)
        high = bisect_right(ordered, elapsed + t)
        alive = len(ordered) - low
        done = high - low
        prefix = self._prefix_sums()
        spent = done * (elapsed + t) - (prefix[high] - prefix[low])
        return done / alive, spent / alive

    def renewal_excess(self, u: float) -> float:
        """``M(u) - u / mean``: how many more renewals than the fluid ``u / mean`` a slot that
        starts a new item now completes by ``u`` (``M`` the renewal function of these
        durations). 0 for exponential durations; it tends to ``(cv2 - 1) / 2``. Solved on a
        grid of ``RENEWAL_STEPS`` steps over ``RENEWAL_SPAN`` mean durations, once per change
        of the samples; constant past the grid."""
        table = self._excess
        if table is None:
            table = self._excess = self._renewal_table()
        step = RENEWAL_SPAN * self.mean() / RENEWAL_STEPS
        if step <= 0:
            return 0.0
        x = u / step
        if x >= RENEWAL_STEPS:
            return table[-1]
        k = int(x)
        return table[k] + (x - k) * (table[k + 1] - table[k])

    def _renewal_table(self) -> list[float]:
        """``M(k * step) - k * step / mean`` for ``k`` in ``0..RENEWAL_STEPS``, by the discrete
        renewal equation ``M_k = F_k + sum_j p_j M_{k-j}``, the durations rounded up to the
        grid (``p_j = F_j - F_{j-1}``, too few renewals) and down (too many), averaged."""
        h = self.mean()
        if h <= 0:
            return [0.0] * (RENEWAL_STEPS + 1)
        step = RENEWAL_SPAN * h / RENEWAL_STEPS
        n = len(self.ordered)
        cdf = [bisect_right(self.ordered, k * step) / n for k in range(RENEWAL_STEPS + 2)]
        mass = [cdf[0]] + [cdf[j] - cdf[j - 1] for j in range(1, RENEWAL_STEPS + 2)]
        up: list[float] = []
        down: list[float] = []
        stuck = 1.0 - mass[1] + 1e-12  # rounded down, durations under a step renew at once
        for k in range(RENEWAL_STEPS + 1):
            earlier_up, earlier_down = up[::-1], down[::-1]  # M_{k-1}, M_{k-2}, ...
            up.append(cdf[k] + sum(map(operator.mul, mass[1:k + 1], earlier_up)))
            down.append((cdf[k + 1] + sum(map(operator.mul, mass[2:k + 2], earlier_down))) / stuck)
        return [(a + b) / 2 - k * step / h for k, (a, b) in enumerate(zip(up, down, strict=True))]

    def residual(self, elapsed: float) -> float:
        """``E[H - elapsed | H > elapsed]``, or a quarter of the mean past every sample."""
        alive = self.survivors(elapsed)
        if not alive:
            return 0.25 * self.mean()
        prefix = self._prefix_sums()
        n = len(self.ordered)
        return (prefix[n] - prefix[n - alive]) / alive - elapsed


@dataclass
class HandleTimes:
    """Handle-time statistics per ``(tenant, medium, skill)``; ``skill`` is ``skill_of(item)``."""

    window: int = 400
    _samples: dict[tuple[str, Medium, str], Samples] = field(default_factory=dict)

    def record(self, tenant: str, medium: Medium, skill: str, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("a handle time must be a finite number of seconds >= 0")
        for key in sorted({(tenant, medium, skill), (tenant, medium, ALL_SKILLS)}):
            self._samples.setdefault(key, Samples(self.window)).add(seconds)

    def forget(self, tenant: str) -> None:
        self._samples = {k: v for k, v in self._samples.items() if k[0] != tenant}

    def samples(self, tenant: str, medium: Medium, skill: str) -> Samples | None:
        """The samples of the skill, else of the tenant and medium, if there are enough."""
        for key in ((tenant, medium, skill), (tenant, medium, ALL_SKILLS)):
            found = self._samples.get(key)
            if found is not None and len(found) >= MIN_SAMPLES:
                return found
        return None

    def mean(self, tenant: str, medium: Medium, skill: str) -> float | None:
        samples = self.samples(tenant, medium, skill)
        return None if samples is None else samples.mean()

    def residual(self, tenant: str, medium: Medium, skill: str, elapsed: float) -> float | None:
        """Expected remaining handle time of an item handled for ``elapsed`` seconds."""
        samples = self.samples(tenant, medium, skill)
        return None if samples is None else samples.residual(max(elapsed, 0.0))


@dataclass
class PresenceTimes:
    """How long agents stay working (ready, busy, wrap-up) and away (not ready), per tenant."""

    window: int = 400
    _work: dict[str, Samples] = field(default_factory=dict)
    _away: dict[str, Samples] = field(default_factory=dict)

    def record(self, tenant: str, seconds: float, *, away: bool) -> None:
        kept = self._away if away else self._work
        kept.setdefault(tenant, Samples(self.window)).add(max(seconds, 0.0))

    def forget(self, tenant: str) -> None:
        self._work.pop(tenant, None)
        self._away.pop(tenant, None)

    def away(self, tenant: str) -> Samples | None:
        found = self._away.get(tenant)
        return found if found is not None and len(found) >= MIN_SAMPLES else None

    def availability(self, tenant: str) -> tuple[float, float]:
        """``(share of time working, switch rate)`` of an on/off model; ``(1, 0)`` if unknown."""
        work, away = self._work.get(tenant), self.away(tenant)
        if work is None or away is None or len(work) < MIN_SAMPLES:
            return 1.0, 0.0
        on, off = work.mean(), away.mean()
        if on <= 0 or off <= 0:
            return 1.0, 0.0
        return on / (on + off), 1 / on + 1 / off


@dataclass
class Patience:
    """Items leaving the queue, served or removed: the abandonment hazard per tenant and medium.

    With exponential patience the hazard is the removals over the total time waited by every
    item (those served count as censored observations).
    """

    window: int = 1000
    _recent: dict[tuple[str, Medium], deque[tuple[float, bool]]] = field(default_factory=dict)
    _sums: dict[tuple[str, Medium], tuple[float, int]] = field(default_factory=dict)

    def record(self, tenant: str, medium: Medium, waited: float, *, abandoned: bool) -> None:
        key = (tenant, medium)
        recent = self._recent.setdefault(key, deque())
        total, gone = self._sums.get(key, (0.0, 0))
        if len(recent) == self.window:
            old, was_gone = recent.popleft()
            total, gone = total - old, gone - was_gone
        waited = max(waited, 0.0)
        recent.append((waited, abandoned))
        self._sums[key] = (total + waited, gone + abandoned)

    def forget(self, tenant: str) -> None:
        self._recent = {k: v for k, v in self._recent.items() if k[0] != tenant}
        self._sums = {k: v for k, v in self._sums.items() if k[0] != tenant}

    def hazard(self, tenant: str, medium: Medium) -> float:
        """Removals per second of waiting (0 while unknown)."""
        total, gone = self._sums.get((tenant, medium), (0.0, 0))
        if len(self._recent.get((tenant, medium), ())) < MIN_SAMPLES or total <= 0:
            return 0.0
        return gone / total


@dataclass
class Statistics:
    """Everything the predictor learns from the events the router sees."""

    handle: HandleTimes = field(default_factory=HandleTimes)
    presence: PresenceTimes = field(default_factory=PresenceTimes)
    patience: Patience = field(default_factory=Patience)

    def forget(self, tenant: str) -> None:
        """A deleted tenant: what was learnt of it goes (a new tenant may get its id)."""
        self.handle.forget(tenant)
        self.presence.forget(tenant)
        self.patience.forget(tenant)


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
