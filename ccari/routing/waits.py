"""ccari's wait predictor: position among competing items, eligible slots, learned statistics.

For a waiting item X, at each relaxation level L it may still reach:

* ``E_L``: the agents X may go to at level L; those at work (ready, busy, wrap-up) hold slots
  that free after the residual handle time of their current item, those on a break (not ready)
  come back after the residual of the break durations seen so far (:mod:`.releases`);
* ``ahead_L``: the items ahead of X (priority, then age) of the same tenant and medium, each
  weighted by the share of its own eligible agents that are also in ``E_L`` (an item that may go
  to 10 agents, 2 of them X's, takes one of X's slots with weight 0.2), thinned by the callers
  expected to hang up first (abandonment hazard learned from removed items);
* ``wait_L = max(time until level L, median time of the ahead_L + 1-th slot release)``.

The prediction is the smallest ``wait_L``. It reads only what the router saw: handle times
(:meth:`Router.complete`, :meth:`Router.record_handle_time`), agents' work and break durations,
items served and removed. Cost: one pass over the tenant's waiting items of that medium and its
agents; :func:`predict_all` shares that work between all the items of a tenant.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass

from ccari.routing.index import Group, ItemIndex, ItemRuntime, OrderKey, Status
from ccari.routing.model import AgentState, Medium, WaitPrediction, WorkItem
from ccari.routing.prediction import Statistics
from ccari.routing.releases import Outlook, ReleaseModel
from ccari.routing.rules import Constraint, constraint_at, satisfies
from ccari.routing.slots import AgentRuntime

Demand = tuple[tuple[tuple[str, str, int], ...], frozenset[str] | None, str | None]


def skill_of(item: WorkItem) -> str:
    """The handle-time statistics key of an item: its required attributes, sorted."""
    return ",".join(sorted(f"{r.name}={r.value}" for r in item.requirements if r.required))


@dataclass(frozen=True)
class Facts:
    """What the predictor reads from the router (never changes it)."""

    agents: Mapping[str, Mapping[str, AgentRuntime]]
    """Logged-in agents by tenant, then id."""
    items: Mapping[str, ItemRuntime]
    index: ItemIndex
    stats: Statistics
    default_handle_time: float


class _Context:
    """Caches shared by the predictions made at one instant."""

    def __init__(self, facts: Facts, tenant: str, medium: Medium, now: float) -> None:
        self.facts = facts
        self.now = now
        self.medium = medium
        agents = [
            a for _, a in sorted(facts.agents.get(tenant, {}).items())
            if a.agent.slots.capacity(medium) > 0
        ]
        self.staffed = [a for a in agents if a.presence is not AgentState.NOT_READY]
        self.away = [a for a in agents if a.presence is AgentState.NOT_READY]
        self.breaks = facts.stats.presence.away(tenant)
        self.availability = facts.stats.presence.availability(tenant)
        self.hazard = facts.stats.patience.hazard(tenant, medium)
        self.groups = list(facts.index.groups(tenant, medium))
        self.keys: dict[Group, list[OrderKey]] = {}
        self._eligible: dict[Demand, frozenset[str]] = {}
        self._overlap: dict[tuple[Demand, Group], float] = {}
        self._slots: dict[tuple[Demand, str], ReleaseModel] = {}
        self._handle: dict[str, tuple[float, float]] = {}

    def eligible(self, demand: Demand) -> frozenset[str]:
        found = self._eligible.get(demand)
        if found is None:
            required, pools, reserved = demand
            constraint = Constraint(required, (), pools, reserved)
            found = frozenset(
                a.id for a in self.staffed
                if satisfies(a.agent.attributes, a.agent.pools, a.id, constraint)
            )
            self._eligible[demand] = found
        return found

    def group_keys(self, group: Group) -> list[OrderKey]:
        keys = self.keys.get(group)
        if keys is None:
            keys = sorted(rt.key for rt in group.items())
            self.keys[group] = keys
        return keys

    def overlap(self, demand: Demand, group: Group) -> float:
        """The share of the group's eligible agents that the demand may also use."""
        found = self._overlap.get((demand, group))
        if found is None:
            _, _, required, pools, reserved, _ = group.signature
            theirs = self.eligible((required, pools, reserved))
            mine = self.eligible(demand)
            found = len(mine & theirs) / len(theirs) if theirs and mine else 0.0
            self._overlap[(demand, group)] = found
        return found

    def handle(self, item: WorkItem) -> tuple[float, float]:
        """Mean handle time of such items and its squared coefficient of variation."""
        skill = skill_of(item)
        found = self._handle.get(skill)
        if found is None:
            samples = self.facts.stats.handle.samples(item.tenant, item.medium, skill)
            if samples is None:
                found = (self.facts.default_handle_time, 1.0)
            else:
                found = (samples.mean(), samples.cv2())
            self._handle[skill] = found
        return found

    def releases(self, demand: Demand, item: WorkItem) -> ReleaseModel:
        """The slot releases of the demand's eligible agents."""
        skill = skill_of(item)
        found = self._slots.get((demand, skill))
        if found is None:
            eligible = self.eligible(demand)
            outlooks: list[Outlook] = []
            for agent in self.staffed:
                if agent.id in eligible:
                    outlooks += _agent_slots(self.facts, agent, self.medium, self.now)
            if self.breaks is not None:  # agents on a break come back after its residual
                required, pools, reserved = demand
                constraint = Constraint(required, (), pools, reserved)
                for agent in self.away:
                    a = agent.agent
                    if satisfies(a.attributes, a.pools, a.id, constraint):
                        back = Outlook(samples=self.breaks, elapsed=self.now - agent.since)
                        outlooks += [back] * a.slots.capacity(self.medium)
            found = ReleaseModel(outlooks, *self.handle(item), *self.availability,
                                 samples=self.facts.stats.handle.samples(
                                     item.tenant, item.medium, skill))
            self._slots[(demand, skill)] = found
        return found


def _outlook(facts: Facts, rt: ItemRuntime, now: float) -> Outlook:
    """How long a held item may still last: busy for a while, or offered (not started)."""
    item = rt.item
    samples = facts.stats.handle.samples(item.tenant, item.medium, skill_of(item))
    elapsed = max(now - rt.accepted_at, 0.0) if rt.status is Status.BUSY else 0.0
    if samples is None:
        return Outlook(mean=facts.default_handle_time)
    return Outlook(samples=samples, elapsed=elapsed)


def _expected(outlook: Outlook) -> float:
    if outlook.fixed is not None:
        return outlook.fixed
    if outlook.samples is not None:
        return outlook.samples.residual(outlook.elapsed)
    return outlook.mean


def _agent_slots(facts: Facts, agent: AgentRuntime, medium: Medium, now: float) -> list[Outlook]:
    """The outlook of each of the agent's slots for this medium."""
    slots = agent.agent.slots
    held = {i: _outlook(facts, facts.items[i], now) for i in sorted(agent.held)}
    free = Outlook(fixed=0.0)
    if agent.presence is AgentState.WRAP_UP:
        free = Outlook(fixed=max((agent.wrap_until or now) - now, 0.0))
    if medium in slots.exclusive:
        # One slot, free once the agent holds nothing: the longest of its items decides.
        return [max(held.values(), key=_expected)] if held else [free]
    blocking = [o for i, o in held.items() if agent.held[i] in slots.exclusive]
    capacity = slots.capacity(medium)
    if blocking:
        return [max(blocking, key=_expected)] * capacity
    mine = [o for i, o in held.items() if agent.held[i] is medium]
    others = sorted((o for i, o in held.items() if agent.held[i] is not medium), key=_expected)
    spare = max(capacity - len(mine), 0)
    free_now = max(min(spare, slots.total - agent.total_used), 0)
    return mine + [free] * free_now + others[: spare - free_now]


def predict(facts: Facts, rt: ItemRuntime, now: float) -> WaitPrediction:
    """The prediction for one item."""
    item = rt.item
    context = _Context(facts, item.tenant, item.medium, now)
    return _predict(context, rt)


def predict_all(facts: Facts, tenant: str, now: float) -> dict[str, WaitPrediction]:
    """Predictions for every waiting or scheduled item of a tenant, sharing the work."""
    contexts: dict[Medium, _Context] = {}
    result: dict[str, WaitPrediction] = {}
    for item_id, rt in sorted(facts.items.items()):
        item = rt.item
        if item.tenant != tenant or rt.status not in (Status.WAITING, Status.SCHEDULED):
            continue
        context = contexts.get(item.medium)
        if context is None:
            context = contexts[item.medium] = _Context(facts, tenant, item.medium, now)
        result[item_id] = _predict(context, rt)
    return result


def position(facts: Facts, rt: ItemRuntime) -> int:
    """1 + the weighted number of items ahead competing for the same agents, rounded."""
    item = rt.item
    context = _Context(facts, item.tenant, item.medium, 0.0)
    demand, key = _demand(rt.constraint), rt.key
    ahead = sum(
        bisect_left(context.group_keys(g), key) * context.overlap(demand, g)
        for g in context.groups
    )
    return round(ahead) + 1


def _demand(constraint: Constraint) -> Demand:
    return (constraint.required, constraint.pools, constraint.reserved)


def _predict(context: _Context, rt: ItemRuntime) -> WaitPrediction:
    item = rt.item
    now = context.now
    if rt.status in (Status.OFFERED, Status.BUSY):
        return WaitPrediction(item.id, 0.0, 0, 1, 1)
    demand = _demand(rt.constraint)
    eligible = context.eligible(demand)
    available = sum(
        1 for a in context.staffed if a.id in eligible and a.can_take(item.medium)
    )
    delay = 0.0
    if rt.status is Status.SCHEDULED and item.not_before is not None:
        delay = max(item.not_before - now, 0.0)
    key = rt.key
    counts = [(g, bisect_left(context.group_keys(g), key)) for g in context.groups]
    best = math.inf
    position = 0.0
    for level in range(rt.level, len(rt.rule.steps) + 1):
        start = 0.0
        if level > rt.level:
            start = item.waiting_since + rt.rule.steps[level - 1].after - now
            demand = _demand(constraint_at(item, rt.rule, level))
        ahead = sum(n * context.overlap(demand, g) for g, n in counts if n)
        if level == rt.level:
            position = ahead
        wait = max(start, delay + _start(context.releases(demand, item), ahead, context.hazard))
        best = min(best, wait)
    return WaitPrediction(item.id, best, round(position) + 1, len(eligible), available)



def _start(model: ReleaseModel, ahead: float, hazard: float) -> float:
    """Median time to a slot, the items ahead thinned by those expected to hang up first.

    With exponential patience an item ahead is still there when its turn comes, on average over
    a wait ``t``, with probability ``(1 - exp(-hazard * t)) / (hazard * t)``; the wait and the
    thinning depend on each other, so a few rounds of substitution settle them.
    """
    wait = model.median_start(ahead)
    if hazard <= 0 or ahead <= 0:
        return wait
    for _ in range(3):
        if not math.isfinite(wait) or wait <= 0:
            break
        wait = model.median_start(ahead * share_left(hazard * wait))
    return wait


def share_left(x: float) -> float:
    """``(1 - exp(-x)) / x``: the mean of ``exp(-s)`` over ``s`` in ``[0, x]``."""
    return 1.0 if x < 1e-9 else -math.expm1(-x) / x
