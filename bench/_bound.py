"""How low the error can go: a predictor that knows the state exactly and the simulator's laws.

Not a baseline and not a product predictor: a yardstick for ``bench.wait_prediction``. When a
call has to wait, it knows what no real system does: the simulator's own handle-time and
patience laws (:class:`bench._scenarios.Law`). With those and the exact state (how long each
agent's call has lasted so far, how long each caller ahead has waited), it replays the future
``SAMPLES`` times from that state with its own random numbers (never the simulator's draws:
the future is not read, only its law) and announces the median of the waits of the samples in
which the caller is served (a caller who hangs up is not in the error, so the samples where he
would are left out). That is, up to the sampling noise, the announcement with the least mean
absolute error over answered calls that any predictor without sight of the future can make;
its error is what is left of the error of every such predictor.

Only the scenarios it can replay exactly: one skill, no breaks or shift changes, no priority
callers, every offer answered (``day``, ``patience-exp``, ``patience-lognormal``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench._scenarios import Law, Scenario

if TYPE_CHECKING:
    from ccari.routing import Router, WorkItem

SAMPLES = 101


def replayable(scenario: Scenario) -> bool:
    handle = dict(scenario.handle)
    return (len(scenario.skills) == 1 and not scenario.breaks and not scenario.priority
            and not scenario.no_answer and isinstance(handle[scenario.skills[0]], Law)
            and (scenario.patience is None or isinstance(scenario.patience, Law)))


def predict(scenario: Scenario, router: Router, tenant: str, item: WorkItem,
            started: Callable[[str], float], now: float, rng: random.Random) -> float:
    """The median wait of ``item`` (waiting, just arrived) over replays of the future from
    now; ``started(call)``: when a call in progress was answered."""
    handle = dict(scenario.handle)[scenario.skills[0]]
    patience = scenario.patience
    assert isinstance(handle, Law) and (patience is None or isinstance(patience, Law))
    elapsed = [now - started(item_id) for item_id, _ in router.snapshot().busy]
    ahead = [now - c.arrived_at for c in router.waiting(tenant) if c.order_key < item.order_key]
    waits: list[float] = []  # the samples where the caller stays until served
    reached: list[float] = []  # every sample's time to an agent, had the caller stayed
    for _ in range(SAMPLES):
        releases = [handle.rest(rng, e) for e in elapsed]
        heapq.heapify(releases)
        gone = [patience.rest(rng, e) if patience else math.inf for e in ahead]
        served = 0  # the callers ahead served or gone so far
        while releases:
            t = heapq.heappop(releases)
            while served < len(gone) and gone[served] < t:
                served += 1  # hung up before this agent freed
            if served == len(gone):
                reached.append(t)
                if patience is None or patience(rng) >= t:
                    waits.append(t)
                break
            served += 1
            heapq.heappush(releases, t + handle(rng))
    chosen = sorted(waits or reached)
    return chosen[len(chosen) // 2] if chosen else math.inf
