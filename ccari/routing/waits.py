"""ccari's wait predictor: position among competing items, eligible staffed slots, handle times.

For a waiting item X at each relaxation level L it may still reach (from now on):

* ``E_L``: the staffed agents (logged in, not ``not_ready``) X may go to at level L;
* ``ahead_L``: the items ahead of X (priority, then age) of the same tenant and medium, each
  weighted by the share of its own eligible agents that are also in ``E_L`` (an item that may go
  to 10 agents, 2 of them X's, takes an X slot with weight 0.2);
* each slot of the agents in ``E_L`` frees after the mean residual handle time of its current
  item (:meth:`HandleTimes.residual`), then every mean handle time.

``wait_L = max(time until level L, release_time(slots, handle, ahead_L))`` and the prediction is
the smallest ``wait_L``. Cost: one pass over the tenant's waiting items of that medium and its
staffed agents; :func:`predict_all` shares that work between all the items of a tenant.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass

from ccari.routing.index import Group, ItemIndex, ItemRuntime, OrderKey, Status
from ccari.routing.model import AgentState, Medium, WaitPrediction, WorkItem
from ccari.routing.prediction import HandleTimes, release_time
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
    stats: HandleTimes
    default_handle_time: float


class _Context:
    """Caches shared by the predictions made at one instant."""

    def __init__(self, facts: Facts, tenant: str, medium: Medium, now: float) -> None:
        self.facts = facts
        self.now = now
        self.medium = medium
        self.staffed = [
            a
            for _, a in sorted(facts.agents.get(tenant, {}).items())
            if a.presence is not AgentState.NOT_READY and a.agent.slots.capacity(medium) > 0
        ]
        self.groups = list(facts.index.groups(tenant, medium))
        self.keys: dict[Group, list[OrderKey]] = {}
        self._eligible: dict[Demand, frozenset[str]] = {}
        self._overlap: dict[tuple[Demand, Group], float] = {}
        self._slots: dict[Demand, list[float]] = {}

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

    def slots(self, demand: Demand) -> list[float]:
        """When each slot of the demand's eligible agents frees, in seconds from now."""
        found = self._slots.get(demand)
        if found is None:
            eligible = self.eligible(demand)
            found = []
            for agent in self.staffed:
                if agent.id in eligible:
                    found += _agent_slots(self.facts, agent, self.medium, self.now)
            found.sort()
            self._slots[demand] = found
        return found


def _remaining(facts: Facts, rt: ItemRuntime, now: float) -> float:
    item = rt.item
    skill = skill_of(item)
    if rt.status is Status.BUSY:
        left = facts.stats.residual(item.tenant, item.medium, skill, now - rt.accepted_at)
        if left is not None:
            return left
        default = facts.default_handle_time
        return max(default - (now - rt.accepted_at), 0.25 * default)
    mean = facts.stats.mean(item.tenant, item.medium, skill)
    return facts.default_handle_time if mean is None else mean


def _agent_slots(facts: Facts, agent: AgentRuntime, medium: Medium, now: float) -> list[float]:
    """Release times of the agent's slots for this medium (0 for a free one)."""
    slots = agent.agent.slots
    left = {item_id: _remaining(facts, facts.items[item_id], now) for item_id in agent.held}
    blocked = 0.0
    if agent.presence is AgentState.WRAP_UP and agent.wrap_until is not None:
        blocked = max(agent.wrap_until - now, 0.0)
    others = sorted(t for i, t in left.items() if agent.held[i] is not medium)
    exclusive_other = [t for i, t in left.items() if agent.held[i] in slots.exclusive]
    if exclusive_other:
        blocked = max(blocked, max(exclusive_other))
    if medium in slots.exclusive:
        return [max([blocked, *left.values()])]
    mine = sorted(max(t, blocked) for i, t in left.items() if agent.held[i] is medium)
    capacity = slots.capacity(medium)
    spare = max(capacity - len(mine), 0)
    free_now = max(min(spare, slots.total - agent.total_used), 0)
    result = mine + [blocked] * free_now
    result += [max(t, blocked) for t in others[: spare - free_now]]
    return result


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
    facts = context.facts
    handle = facts.stats.mean(item.tenant, item.medium, skill_of(item))
    handle = facts.default_handle_time if handle is None else handle
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
        wait = max(start, delay + release_time(context.slots(demand), handle, ahead))
        best = min(best, wait)
    return WaitPrediction(item.id, best, round(position) + 1, len(eligible), available)

