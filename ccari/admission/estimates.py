"""The estimates admission rests on: a tenant's arrival rate and the chance its calls end soon.

Pure: no I/O and no clock (``now`` is passed in), deterministic for the same facts.

Histories are kept as :class:`Samples`, an ascending tuple built once when the history changes,
so a decision costs a few binary searches (``bisect``) instead of a scan of the history.

Arrivals (Poisson)
    ``arrival_rate`` = arrivals in the half-open window ``(now - window_s, now]`` / ``window_s``
    (arrivals after ``now`` are ignored), and ``probability_arrival_soon(rate, w)`` =
    ``1 - exp(-rate * w)``: the chance of at least one arrival within ``w`` seconds.

Calls ending (empirical, conditioned on elapsed time)
    For a call that has lasted ``e`` seconds and a sorted duration history ``D``:
    ``p = P(D <= e + w | D > e) = #{e < d <= e + w} / #{d > e}``.
    Fallback when the history is short: if fewer than ``min_history`` recorded durations are
    longer than ``e`` (a young history, or a call that has outlived almost all of it), the
    duration is taken as exponential (memoryless), ``p = 1 - exp(-w / mean)``, with ``mean`` the
    history's mean when the whole history has at least ``min_history`` samples and
    ``prior_mean_s`` otherwise.
    Calls are taken as independent: ``P(some call ends) = 1 - prod(1 - p_i)`` and, more
    generally, ``P(at least k end)`` is the Poisson-binomial tail.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["inbound", "outbound"]

DEFAULT_MIN_HISTORY = 20
DEFAULT_PRIOR_MEAN_S = 180.0


@dataclass(frozen=True, slots=True)
class Samples:
    """Ascending samples (arrival timestamps, or call durations in seconds) and their mean."""

    values: tuple[float, ...] = ()
    mean: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        v = self.values
        for a, b in zip(v, v[1:], strict=False):
            if not a <= b:
                raise ValueError("samples must be ascending and not NaN; use Samples.of()")
        if v and not (math.isfinite(v[0]) and math.isfinite(v[-1])):
            raise ValueError("samples must be finite")
        object.__setattr__(self, "mean", math.fsum(v) / len(v) if v else 0.0)

    @classmethod
    def of(cls, values: Iterable[float]) -> Samples:
        """Samples from values in any order."""
        return cls(tuple(sorted(map(float, values))))

    def appended(self, value: float) -> Samples:
        """These samples and ``value``, which is not below the last one (a new arrival):
        no sort and no check of what was already checked."""
        v = float(value)
        if not math.isfinite(v) or (self.values and v < self.values[-1]):
            raise ValueError("an appended sample must be finite and not below the last")
        new = object.__new__(Samples)
        values = self.values + (v,)
        object.__setattr__(new, "values", values)
        object.__setattr__(new, "mean", (self.mean * len(self.values) + v) / len(values))
        return new

    def __len__(self) -> int:
        return len(self.values)


EMPTY = Samples()


@dataclass(frozen=True, slots=True)
class CallInProgress:
    """A call holding a trunk for a tenant; outbound calls count like inbound ones."""

    started_at: float
    direction: Direction = "inbound"


def arrival_rate(recent_arrivals: Samples, window_s: float, now: float) -> float:
    """Arrivals per second over ``(now - window_s, now]``."""
    if not window_s > 0:
        raise ValueError("window_s must be > 0")
    v = recent_arrivals.values
    count = bisect_right(v, now) - bisect_right(v, now - window_s)
    return count / window_s


def probability_arrival_soon(rate: float, soon_window_s: float) -> float:
    """P(at least one arrival within ``soon_window_s``) for a Poisson rate: 1 - exp(-rate*w)."""
    if rate <= 0 or soon_window_s <= 0:
        return 0.0
    return -math.expm1(-rate * soon_window_s)


def probability_call_ends(
    elapsed_s: float,
    duration_history: Samples,
    window_s: float,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    prior_mean_s: float = DEFAULT_PRIOR_MEAN_S,
) -> float:
    """P(a call that has lasted ``elapsed_s`` ends within the next ``window_s``)."""
    if window_s <= 0:
        return 0.0
    e = elapsed_s if elapsed_s > 0 else 0.0
    v = duration_history.values
    i = bisect_right(v, e)
    survivors = len(v) - i
    if survivors >= min_history and survivors > 0:
        return (bisect_right(v, e + window_s) - i) / survivors
    mean = duration_history.mean if len(v) >= min_history and len(v) > 0 else prior_mean_s
    if mean <= 0:
        return 1.0
    return -math.expm1(-window_s / mean)


def _ends_probabilities(
    calls: Sequence[CallInProgress],
    duration_history: Samples,
    window_s: float,
    now: float,
    min_history: int,
    prior_mean_s: float,
) -> list[float]:
    return [
        probability_call_ends(
            now - c.started_at,
            duration_history,
            window_s,
            min_history=min_history,
            prior_mean_s=prior_mean_s,
        )
        for c in calls
    ]


def probability_at_least_k_end(
    calls_in_progress: Sequence[CallInProgress],
    duration_history: Samples,
    window_s: float,
    now: float,
    k: int,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    prior_mean_s: float = DEFAULT_PRIOR_MEAN_S,
) -> float:
    """P(at least ``k`` of the calls end within ``window_s``), calls independent."""
    if k <= 0:
        return 1.0
    if k > len(calls_in_progress) or window_s <= 0:
        return 0.0
    ps = _ends_probabilities(
        calls_in_progress, duration_history, window_s, now, min_history, prior_mean_s
    )
    if k == 1:
        none_end = 1.0
        for p in ps:
            none_end *= 1.0 - p
        return 1.0 - none_end
    # dist[j] = P(exactly j ended so far) for j < k; dist[k] = P(at least k ended).
    dist = [1.0] + [0.0] * k
    for p in ps:
        q = 1.0 - p
        dist[k] += dist[k - 1] * p
        for j in range(k - 1, 0, -1):
            dist[j] = dist[j] * q + dist[j - 1] * p
        dist[0] *= q
    return min(1.0, dist[k])


def probability_some_call_ends(
    calls_in_progress: Sequence[CallInProgress],
    duration_history: Samples,
    window_s: float,
    now: float,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    prior_mean_s: float = DEFAULT_PRIOR_MEAN_S,
) -> float:
    """P(at least one call in progress ends within ``window_s``) = 1 - prod(1 - p_i)."""
    return probability_at_least_k_end(
        calls_in_progress,
        duration_history,
        window_s,
        now,
        1,
        min_history=min_history,
        prior_mean_s=prior_mean_s,
    )
