"""Routing rules per tenant and queue: agent pools, relaxation over time, agent ordering.

A work item's *level* is the number of relaxation steps whose time has come (``after`` seconds
since the item started waiting). Steps are cumulative; :func:`constraint_at` turns an item and a
level into the :class:`Constraint` the router matches agents against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ccari.routing.model import Medium, WorkItem


class Strategy(StrEnum):
    """How to choose among the eligible agents with a free slot.

    ``best_fit``: highest fit score (sum of ``weight * proficiency`` of the matched
    requirements), then least occupied, then longest idle. ``least_busy``: least occupied, then
    longest idle, then fit. The agent id breaks any remaining tie.
    """

    BEST_FIT = "best_fit"
    LEAST_BUSY = "least_busy"


@dataclass(frozen=True, slots=True)
class RelaxationStep:
    """What changes ``after`` seconds of waiting.

    ``min_proficiency``: required minimums above this are lowered to it ("accept >= 2").
    ``relax``: requirement names that become preferred instead of required.
    ``add_pools``: pools added to the queue's pools (overflow).
    ``release_reservation``: a reserved item may go to any eligible agent.
    """

    after: float
    min_proficiency: int | None = None
    relax: frozenset[str] = frozenset()
    add_pools: frozenset[str] = frozenset()
    release_reservation: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.after) and self.after >= 0):
            raise ValueError("a relaxation step needs a finite 'after' >= 0")


@dataclass(frozen=True, slots=True)
class QueueRule:
    """``pools``: the agent pools serving the queue (``None``: every agent of the tenant)."""

    pools: frozenset[str] | None = None
    steps: tuple[RelaxationStep, ...] = ()
    strategy: Strategy = Strategy.BEST_FIT

    def __post_init__(self) -> None:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("relaxation steps must be in increasing 'after' order")


@dataclass(frozen=True, slots=True)
class Rules:
    """All routing rules. ``queues`` is keyed by ``(tenant, queue)``; others use ``default``.

    ``reoffer_delay``: after an agent refuses an item and stays ready, the item is not offered to
    that agent again for this many seconds (other agents may take it at once).
    ``missed_offer_delay``: the same after an offer the agent let lapse (a missed offer, which
    also makes the agent not ready): kept from that agent for this many seconds, so that the
    agent, ready again, gets the other work waiting for them first instead of the item they
    just missed (other agents may take it at once). A time, not "until others were tried":
    with no other eligible agent the item still comes back to them once it has passed.
    ``default_handle_time``: seconds assumed before any handle time was recorded.

    Fair blending: ``hold_after`` (per tenant in ``tenant_hold_after``, else the default;
    0 is off): once an item of one of ``hold_media`` has waited this many seconds, the agents
    eligible for it who handle its medium alone (exclusive) beside other media get no new work
    of those other media until it is placed: their current work ends, they become entirely
    free, and it is offered to them. Without it a stream of chats can keep a blended agent
    from ever being free for a waiting call.
    """

    queues: Mapping[tuple[str, str], QueueRule] = field(default_factory=dict)
    default: QueueRule = QueueRule()
    reoffer_delay: float = 10.0
    default_handle_time: float = 180.0
    missed_offer_delay: float = 60.0
    hold_after: float = 0.0
    tenant_hold_after: Mapping[str, float] = field(default_factory=dict)
    hold_media: frozenset[Medium] = frozenset({Medium.VOICE})

    def __post_init__(self) -> None:
        for seconds in (self.hold_after, *self.tenant_hold_after.values()):
            if not (math.isfinite(seconds) and seconds >= 0):
                raise ValueError("hold_after must be a finite number of seconds >= 0 (0: off)")

    def rule_for(self, tenant: str, queue: str) -> QueueRule:
        return self.queues.get((tenant, queue), self.default)

    def hold_for(self, tenant: str) -> float:
        """The tenant's blending hold (seconds an exclusive item waits before capacity is
        held back for it), 0 when off."""
        return self.tenant_hold_after.get(tenant, self.hold_after)

    def holding(self, item: WorkItem) -> float | None:
        """When a waiting item starts holding capacity back, or ``None`` (rule off)."""
        if item.medium not in self.hold_media:
            return None
        after = self.hold_for(item.tenant)
        return item.waiting_since + after if after > 0 else None


Need = tuple[str, str, int]
"""A required attribute: ``(name, value, minimum proficiency)``."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """What an item demands of an agent at one relaxation level."""

    required: tuple[Need, ...]
    scoring: tuple[tuple[tuple[str, str], float, int], ...]
    """``((name, value), weight, threshold)``: fit adds ``weight * proficiency`` when met."""
    pools: frozenset[str] | None
    reserved: str | None


UNSET = Constraint((), (), None, None)
"""A placeholder for an item whose constraint is computed right after (never routed on)."""


def level_at(item: WorkItem, rule: QueueRule, now: float) -> int:
    """How many of the rule's steps have been reached at ``now``."""
    since = item.waiting_since
    level = 0
    for step in rule.steps:
        if since + step.after <= now:
            level += 1
        else:
            break
    return level


def step_time(item: WorkItem, rule: QueueRule, level: int) -> float | None:
    """When the item reaches ``level + 1``, or ``None`` after the last step."""
    if level >= len(rule.steps):
        return None
    return item.waiting_since + rule.steps[level].after


def constraint_at(item: WorkItem, rule: QueueRule, level: int) -> Constraint:
    """The item's demands once the first ``level`` steps of its rule apply."""
    cap: int | None = None
    relaxed: set[str] = set()
    pools = rule.pools
    reserved = item.reserved_agent
    for step in rule.steps[:level]:
        if step.min_proficiency is not None:
            cap = step.min_proficiency if cap is None else min(cap, step.min_proficiency)
        relaxed |= step.relax
        if pools is not None:
            pools = pools | step.add_pools
        if step.release_reservation:
            reserved = None
    required: set[Need] = set()
    scoring: list[tuple[tuple[str, str], float, int]] = []
    for req in item.requirements:
        threshold = req.min_proficiency
        if req.required and req.name not in relaxed:
            threshold = threshold if cap is None else min(threshold, cap)
            required.add((req.name, req.value, threshold))
        scoring.append(((req.name, req.value), req.weight, threshold))
    return Constraint(tuple(sorted(required)), tuple(scoring), pools, reserved)


def satisfies(
    attributes: Mapping[tuple[str, str], int],
    agent_pools: frozenset[str],
    agent_id: str,
    constraint: Constraint,
) -> bool:
    """Whether an agent meets every hard demand of a constraint (slots aside)."""
    if constraint.reserved is not None and constraint.reserved != agent_id:
        return False
    if constraint.pools is not None and constraint.pools.isdisjoint(agent_pools):
        return False
    for name, value, floor in constraint.required:
        proficiency = attributes.get((name, value))
        if proficiency is None or proficiency < floor:
            return False
    return True


def fit(attributes: Mapping[tuple[str, str], int], constraint: Constraint) -> float:
    """Fit score: ``weight * proficiency`` over the requirements the agent meets."""
    score = 0.0
    for key, weight, threshold in constraint.scoring:
        proficiency = attributes.get(key)
        if proficiency is not None and proficiency >= threshold:
            score += weight * proficiency
    return score
