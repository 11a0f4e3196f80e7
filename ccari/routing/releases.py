"""When slots free up: the expected number of slot releases by a time ``t``, and its inverse.

Each slot's current item has a remaining time ``R`` (known, or drawn from the handle times of
such items that lasted at least as long as it has so far: the *residual* life), then the slot
serves one item after another, each taking ``h`` on average. The expected number of releases of
one slot by ``t`` is ``P(R <= t)`` plus the renewals after ``R``; those are counted as a fluid
(``E[(t - R)+] / h``, exact for exponential handle times) or as steps every ``h`` (exact for
fixed ones), mixed by the squared coefficient of variation of the handle times. Handle times
more variable than exponential ones (``cv2 > 1``: many short calls and a long tail) complete
more renewals than the fluid once a slot has run a while (renewal theory: ``M(u) - u / h``
tends to ``(cv2 - 1) / 2``): the excess of the renewal function of the recorded handle times
(:meth:`Samples.renewal_excess`) is added, at the mean time since the first release.

An item with ``k`` items ahead starts at the ``k + 1``-th release; treating the releases as a
Poisson count, that is reached with probability one half when their expected number is
``k + 2/3``: :meth:`ReleaseModel.time_for` solves for that time, the median wait, which is the
prediction with the smallest mean absolute error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ccari.routing.prediction import Samples

MEDIAN_COUNT = 2.0 / 3.0
"""Releases expected when the first one has happened with probability 1/2 (Poisson)."""


@dataclass(frozen=True, slots=True)
class Outlook:
    """How long a slot's current item may still last.

    ``fixed``: known (0 for a free slot, the rest of a timed wrap-up). Else ``samples`` of the
    handle times of such items, already handled for ``elapsed``; else exponential with ``mean``.
    """

    fixed: float | None = None
    samples: Samples | None = None
    elapsed: float = 0.0
    mean: float = 0.0

    def at(self, t: float) -> tuple[float, float]:
        """``(P(R <= t), E[(t - R)+])``."""
        fixed = self.fixed
        samples = self.samples
        if fixed is None and samples is not None and not samples.survivors(self.elapsed):
            fixed = 0.25 * samples.mean()  # longer than every sample: assume it ends soon
        if fixed is not None:
            return (1.0, t - fixed) if t >= fixed else (0.0, 0.0)
        if samples is not None:
            return samples.remaining(self.elapsed, t)
        if self.mean <= 0:
            return (1.0, t)
        gone = 1.0 - math.exp(-t / self.mean)
        return gone, t - self.mean * gone


class ReleaseModel:
    """Slot releases of a set of agents, for items taking ``handle`` seconds on average."""

    def __init__(
        self,
        slots: Sequence[Outlook],
        handle: float,
        cv2: float,
        availability: float = 1.0,
        switch_rate: float = 0.0,
        samples: Samples | None = None,
    ) -> None:
        self.slots = list(slots)
        self.handle = max(handle, 1e-6)
        self.fluid = min(max(cv2, 0.0), 1.0)
        self.availability = availability
        self.switch_rate = switch_rate
        self.samples = samples if cv2 > 1.0 else None

    def expected(self, t: float) -> float:
        """Expected number of releases by ``t`` seconds from now."""
        h, fluid = self.handle, self.fluid
        # An agent working now works, on average over the next t seconds, this share of them.
        a, c = self.availability, self.switch_rate
        working = a + (1.0 - a) * (1.0 if c * t < 1e-9 else -math.expm1(-c * t) / (c * t))
        total = 0.0
        for slot in self.slots:
            done, spent = slot.at(t)
            renewals = fluid * spent / h
            if self.samples is not None and done > 0:  # the renewal function, not the fluid
                renewals += done * self.samples.renewal_excess(spent / done)
            if fluid < 1.0:
                k = 1
                while t - k * h >= 0:
                    renewals += (1.0 - fluid) * slot.at(t - k * h)[0]
                    k += 1
            total += done + working * renewals
        return total

    def time_for(self, count: float, *, precision: float = 0.5) -> float:
        """The time by which ``count`` releases are expected (``inf`` without slots), within
        ``precision / 2``: the middle of the last interval known to hold it."""
        if count <= 0:
            return 0.0
        if not self.slots:
            return math.inf
        low, high = 0.0, self.handle
        while self.expected(high) < count:
            low, high = high, 2 * high
            if high > 1e8:
                return math.inf
        while high - low > precision:
            middle = (low + high) / 2
            if self.expected(middle) < count:
                low = middle
            else:
                high = middle
        return (low + high) / 2

    def median_start(self, ahead: float) -> float:
        """Median time until an item with ``ahead`` items before it gets a slot."""
        return self.time_for(ahead + MEDIAN_COUNT)
