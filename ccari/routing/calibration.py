"""Learning from outcomes: how the wait model's predictions compare with the waits that followed.

The model of :mod:`.waits` predicts from the state (slots, residual handle times, the items
ahead, breaks, abandonment); its errors are not random noise only. Callers who are answered
are those whose wait was shorter than their patience, so the waits actually lived are shorter
than the model's (increasingly so the longer the prediction); the weights it gives to items
competing in several skill groups, its renewal and abandonment approximations each leave a
bias that depends on the queue, the skill and the load.

The router knows each outcome: every item's first prediction is noted (:meth:`Calibration.note`)
and, when the item leaves the queue for an agent, the wait it really had since is paired with
it (:meth:`Calibration.served`; an item that is removed first is forgotten). Per tenant,
medium and skill the last :attr:`Calibration.window` pairs are kept, sorted by prediction.

:meth:`Calibration.correct` then answers a prediction ``m`` with ``m * r``, where ``r`` is the
median of ``actual / predicted`` over the :attr:`Calibration.neighbours` pairs whose prediction
was closest to ``m``. In that neighbourhood the median ratio is the least-absolute-error
factor (the predictions are nearly equal), so the corrected figure estimates the median wait
*of the items that will be served* given what the model saw: the figure with the smallest
mean absolute error for the callers who stay. Until a key has :attr:`Calibration.min_samples`
pairs the model's figure is kept as it is. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field

from ccari.routing.model import Medium

Key = tuple[str, Medium, str]
"""``(tenant, medium, skill)``, the skill as :func:`ccari.routing.waits.skill_of` gives it."""

MIN_PREDICTION = 1.0
"""Predictions below a second (an agent frees now) are neither learned from nor corrected."""


@dataclass
class _Pairs:
    """The last pairs of one key, in arrival order and sorted by prediction."""

    window: int
    recent: deque[tuple[float, float]] = field(default_factory=deque)
    ordered: list[tuple[float, float]] = field(default_factory=list)

    def add(self, predicted: float, ratio: float) -> None:
        if len(self.recent) == self.window:
            old = self.recent.popleft()
            del self.ordered[bisect_left(self.ordered, old)]
        pair = (predicted, ratio)
        self.recent.append(pair)
        insort(self.ordered, pair)

    def ratio_near(self, predicted: float, count: int) -> float:
        """The median ratio of the ``count`` pairs whose prediction is closest to ``predicted``
        (on a log scale: 10 s is as far from 20 s as 100 s from 200 s)."""
        ordered = self.ordered
        count = min(count, len(ordered))
        low = high = bisect_left(ordered, (predicted, -math.inf))
        target = math.log(predicted)
        while high - low < count:  # grow towards the nearer side
            if low == 0:
                high += 1
            elif high == len(ordered):
                low -= 1
            elif target - math.log(ordered[low - 1][0]) <= math.log(ordered[high][0]) - target:
                low -= 1
            else:
                high += 1
        ratios = sorted(r for _, r in ordered[low:high])
        middle = len(ratios) // 2
        if len(ratios) % 2:
            return ratios[middle]
        return (ratios[middle - 1] + ratios[middle]) / 2


@dataclass
class Calibration:
    """Per ``(tenant, medium, skill)``: the model's first prediction of each item against the
    wait it had, and the correction learnt from them."""

    window: int = 600
    neighbours: int = 60
    min_samples: int = 40
    _pending: dict[str, tuple[Key, float, float]] = field(default_factory=dict)
    _pairs: dict[Key, _Pairs] = field(default_factory=dict)

    def noted(self, item_id: str) -> bool:
        return item_id in self._pending

    def note(self, item_id: str, key: Key, predicted: float, now: float) -> None:
        """The model's prediction for a waiting item, made at ``now`` (only the first counts)."""
        if item_id not in self._pending and math.isfinite(predicted):
            self._pending[item_id] = (key, predicted, now)

    def served(self, item_id: str, now: float) -> None:
        """The item left the queue for an agent at ``now``: learn from its wait."""
        found = self._pending.pop(item_id, None)
        if found is None:
            return
        key, predicted, noted_at = found
        if predicted < MIN_PREDICTION:
            return
        pairs = self._pairs.get(key)
        if pairs is None:
            pairs = self._pairs[key] = _Pairs(self.window)
        pairs.add(predicted, max(now - noted_at, 0.0) / predicted)

    def forget(self, item_id: str) -> None:
        """The item is gone without being served (abandoned, cancelled): nothing to learn."""
        self._pending.pop(item_id, None)

    def samples(self, key: Key) -> int:
        pairs = self._pairs.get(key)
        return 0 if pairs is None else len(pairs.ordered)

    def correct(self, key: Key, predicted: float) -> float:
        """The model's ``predicted`` wait corrected by what followed its neighbours."""
        pairs = self._pairs.get(key)
        if (pairs is None or len(pairs.ordered) < self.min_samples
                or not math.isfinite(predicted) or predicted < MIN_PREDICTION):
            return predicted
        return predicted * pairs.ratio_near(predicted, self.neighbours)
