"""The matching machinery under :class:`ccari.routing.Router`: state, deadlines, settling.

Every event first applies the deadlines reached by ``now`` (relaxation steps, ``not_before``
times, re-offer delays, timed wrap-ups), then changes the state, collecting the agents that
gained a free slot and the items that became routable (:class:`Dirt`), then *settles*: each
such agent takes the first waiting item it is eligible for (priority, then age), then each such
item still waiting takes the best free eligible agent. Afterwards no waiting item is eligible
for an agent with a free slot. Nothing is scanned in full: see :mod:`.index`.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ccari.routing import waits
from ccari.routing.holds import Holds
from ccari.routing.index import FreeIndex, Group, ItemIndex, ItemRuntime, Status
from ccari.routing.model import (
    Agent,
    AgentState,
    AwayReason,
    DuplicateId,
    InvalidTransition,
    Offer,
    Requirement,
    UnknownAgent,
    UnknownItem,
    WorkItem,
)
from ccari.routing.prediction import Statistics
from ccari.routing.rules import (
    UNSET,
    Constraint,
    QueueRule,
    Rules,
    Strategy,
    constraint_at,
    level_at,
    step_time,
)
from ccari.routing.slots import AgentRuntime

ConstraintKey = tuple[tuple[Requirement, ...], str | None, int]

ITEM, AGENT = 0, 1
ROUTABLE = (Status.SCHEDULED, Status.WAITING)


@dataclass
class Dirt:
    """Agents that gained a free slot and items that became routable during one event."""

    agents: set[str] = field(default_factory=set)
    items: dict[str, ItemRuntime] = field(default_factory=dict)


# Up to this many candidate agents are ranked one by one; more are walked in the free index's
# order (no skill scores), which stops at the first eligible one.
FEW = 16


class Matcher:
    """Routing state and the transitions shared by the events of :class:`Router`."""

    few = FEW
    # Walk the agents by attribute profile while there are at least this many candidates
    # per profile; fewer (everyone different): rank each candidate.
    profile_ratio = 4

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules if rules is not None else Rules()
        self._items: dict[str, ItemRuntime] = {}
        self._agents: dict[str, AgentRuntime] = {}
        self._tenants: dict[str, dict[str, AgentRuntime]] = {}
        self._ready: collections.Counter[str] = collections.Counter()  # per tenant
        self._index = ItemIndex()
        self._free = FreeIndex()
        self._holds = Holds(self._free)
        self._deadlines: list[tuple[float, int, str, int]] = []
        self._token = 0
        self._stats = Statistics()
        self._now = 0.0
        # Agents whose state (presence, reserved, busy) may have changed since last asked.
        self._touched: set[str] = set()
        # Constraints by rule (checked by identity), then (requirements, reserved, level):
        # items asking for the same share one, computed once (a restore admits 100,000).
        self._constraints: dict[int, tuple[QueueRule, dict[ConstraintKey, Constraint]]] = {}

    def _constraint(self, item: WorkItem, rule: QueueRule, level: int) -> Constraint:
        found = self._constraints.get(id(rule))
        if found is None or found[0] is not rule:
            if len(self._constraints) > 1000:
                self._constraints.clear()
            found = self._constraints[id(rule)] = (rule, {})
        cache = found[1]
        key = (item.requirements, item.reserved_agent, level)
        constraint = cache.get(key)
        if constraint is None:
            if len(cache) > 50_000:
                cache.clear()
            constraint = cache[key] = constraint_at(item, rule, level)
        return constraint

    def _item(self, item_id: str, *allowed: Status) -> ItemRuntime:
        rt = self._items.get(item_id)
        if rt is None:
            raise UnknownItem(f"no item {item_id}")
        if allowed and rt.status not in allowed:
            raise InvalidTransition(f"item {item_id} is {rt.status.value}")
        return rt

    def _agent(self, agent_id: str) -> AgentRuntime:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(f"agent {agent_id} is not logged in")
        return agent

    def _facts(self) -> waits.Facts:
        return waits.Facts(
            self._tenants, self._items, self._index, self._stats, self.rules.default_handle_time
        )

    def _admit(self, item: WorkItem, now: float, dirt: Dirt) -> None:
        rule = self.rules.rule_for(item.tenant, item.queue)
        due = item.not_before is None or item.not_before <= now
        status = Status.WAITING if due else Status.SCHEDULED
        rt = ItemRuntime(item, rule, status, 0, UNSET)  # _refresh sets its constraint
        self._items[item.id] = rt
        self._refresh(rt, now, regroup=True)
        if due:
            dirt.items[item.id] = rt

    def _login(self, agent: Agent, presence: AgentState, now: float, dirt: Dirt, *,
               indexed: bool = True) -> None:
        """``indexed=False``: not in the free-agent index yet (a restore adds its holds first)."""
        if agent.id in self._agents:
            raise DuplicateId(f"agent {agent.id} is already logged in")
        runtime = AgentRuntime(own(agent), presence, now, since=now, touched=self._touched)
        self._touched.add(agent.id)
        self._agents[agent.id] = runtime
        self._tenants.setdefault(agent.tenant, {})[agent.id] = runtime
        if presence is AgentState.READY:
            self._ready[agent.tenant] += 1
        self._holds.join(runtime)
        if indexed:
            self._freed(runtime, dirt)

    def _set_presence(self, agent: AgentRuntime, presence: AgentState, now: float,
                      reason: AwayReason | None = None) -> None:
        """Every presence change; ``reason`` only when the router itself makes it not ready
        (any other change, the agent's own not-ready included, clears it)."""
        ready = presence is AgentState.READY
        if ready != (agent.presence is AgentState.READY):
            self._ready[agent.agent.tenant] += 1 if ready else -1
        away = agent.presence is AgentState.NOT_READY
        if away != (presence is AgentState.NOT_READY):
            self._stats.presence.record(agent.agent.tenant, now - agent.since, away=away)
            agent.since = now
        agent.presence = presence
        self._touched.add(agent.id)
        agent.reason = reason if presence is AgentState.NOT_READY else None
        agent.wrap_until = None
        agent.wrap_token += 1

    def _freed(self, agent: AgentRuntime, dirt: Dirt) -> None:
        """The agent may take more work now: it is offered some when the event settles, and
        only then filed in the free index with what is left (most freed agents are full
        again at once: filing them, then taking them out, was most of such an event)."""
        dirt.agents.add(agent.id)

    def _push(self, when: float, kind: int, ident: str, token: int) -> None:
        heapq.heappush(self._deadlines, (when, kind, ident, token))

    def _live(self, deadline: tuple[float, int, str, int]) -> bool:
        _, kind, ident, token = deadline
        if kind == ITEM:
            rt = self._items.get(ident)
            return rt is not None and rt.deadline_token == token and rt.status in ROUTABLE
        agent = self._agents.get(ident)
        return agent is not None and agent.wrap_token == token

    def _advance(self, now: float) -> Dirt:
        self._now = now
        dirt = Dirt()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            deadline = heapq.heappop(deadlines)
            if not self._live(deadline):
                continue
            when, kind, ident, _ = deadline
            if kind == ITEM:
                rt = self._items[ident]
                self._refresh(rt, now)
                if rt.status is Status.WAITING:
                    dirt.items[ident] = rt
            else:
                agent = self._agents[ident]
                self._set_presence(agent, AgentState.READY, when)
                agent.idle_since = when
                self._freed(agent, dirt)
        return dirt

    def _refresh(self, rt: ItemRuntime, now: float, *, regroup: bool = False) -> None:
        """Bring an item's status, level, exclusions, group and next deadline up to ``now``."""
        item, rule = rt.item, rt.rule
        if rt.status is Status.SCHEDULED and (item.not_before is None or item.not_before <= now):
            rt.status = Status.WAITING
        excluded = rt.excluded
        if excluded:
            for agent_id, until in list(excluded.items()):
                if until <= now:
                    del excluded[agent_id]
        level = level_at(item, rule, now) if rt.status is Status.WAITING else 0
        if level != rt.level or regroup:
            rt.level = level
            rt.constraint = self._constraint(item, rule, level)
        if rt.status is Status.WAITING:
            if regroup or rt.group is None or rt.group.signature != rt.signature():
                self._index.regroup(rt)
        else:
            self._index.remove(rt)
        times = list(excluded.values()) if excluded else []
        if rt.status is Status.SCHEDULED and item.not_before is not None:
            times.append(item.not_before)
        step = step_time(item, rule, level) if rt.status is Status.WAITING else None
        if step is not None:
            times.append(step)
        holding = self.rules.holding(item) if rt.status is Status.WAITING else None
        if holding is not None and holding <= now:
            self._holds.hold(rt)
        else:
            self._holds.release(rt)
            if holding is not None:
                times.append(holding)
        self._token += 1
        rt.deadline_token = self._token
        if times:
            self._push(min(times), ITEM, item.id, rt.deadline_token)

    def _settle(self, dirt: Dirt, now: float, *, items_first: bool = False) -> list[Offer]:
        offers: list[Offer] = []
        if items_first:
            for agent_id in sorted(dirt.agents):
                self._free.refresh(self._agents[agent_id])
            self._place_all(dirt, offers)
        for agent_id in sorted(dirt.agents):
            agent = self._agents.get(agent_id)
            if agent is not None:
                self._fill(agent, offers)
        if not items_first:  # else every item had its turn, and filling frees no slot
            self._place_all(dirt, offers)
        released = self._holds.released
        while released:  # agents no longer kept for an item (it was offered): other work now
            for agent_id in sorted(released):
                released.discard(agent_id)
                agent = self._agents.get(agent_id)
                if agent is not None:
                    self._fill(agent, offers)
        return offers

    def _place_all(self, dirt: Dirt, offers: list[Offer]) -> None:
        # Placing only takes free slots: once an item finds no agent, the items with the same
        # demands (its group) will not either, unless an agent held back for an item that
        # was just offered is released meanwhile.
        if not dirt.items:
            return
        stuck: set[Group | None] = set()
        holds = self._holds
        for rt in sorted(dirt.items.values(), key=order_key):
            if rt.status is Status.WAITING and self._items.get(rt.item.id) is rt:
                if rt.group in stuck:
                    continue
                releases = holds.releases
                if not self._place(rt, offers):
                    stuck.add(rt.group)
                if holds.releases != releases:
                    stuck.clear()

    def _fill(self, agent: AgentRuntime, offers: list[Offer]) -> None:
        """Offer the agent the first items it is eligible for while it has free slots, then
        file it in the free index as it is left."""
        while media := agent.takeable():
            best: ItemRuntime | None = None
            for medium in media:
                found = self._index.best_for(agent, medium)
                if found is not None and (best is None or found.key < best.key):
                    best = found
            if best is None:
                break
            self._offer(best, agent, offers, filed=False)
        self._free.refresh(agent)

    def _place(self, rt: ItemRuntime, offers: list[Offer]) -> bool:
        """Offer the item to the best free eligible agent, if any (the hottest loop); whether
        it was."""
        item, group = rt.item, rt.group
        assert group is not None
        agents = self._agents
        scoring = rt.constraint.scoring
        _, _, required, pools, reserved, excluded = group.signature
        plain = not (required or pools is not None or reserved is not None or excluded)
        least_busy = rt.rule.strategy is Strategy.LEAST_BUSY
        candidates = self._free.candidates(item.tenant, item.medium, rt.constraint)
        if not candidates:
            return False

        def eligible(agent_ids: Iterable[str]) -> AgentRuntime | None:
            for agent_id in agent_ids:
                if agent_id in candidates and (plain or group.admits(agents[agent_id])):
                    return agents[agent_id]
            return None

        if len(candidates) > self.few:
            if not scoring:
                # No scores: both strategies rank by occupancy, idle time and id, the order
                # the index keeps: the first eligible agent in it is the best.
                found = eligible(self._free.ranked(item.tenant, item.medium))
                if found is not None:
                    self._offer(rt, found, offers)
                return found is not None
            if self._free.profile_count(item.tenant, item.medium) * self.profile_ratio <= len(
                    candidates):
                # Agents with the same attributes score the same: the first eligible of each
                # profile (in that order) is its best; the best of those wins.
                heads = (eligible(ids) for ids in self._free.profiles(item.tenant, item.medium))
                found = min((a for a in heads if a is not None),
                            key=lambda a: rank_of(a, scoring, least_busy), default=None)
                if found is not None:
                    self._offer(rt, found, offers)
                return found is not None
        best: AgentRuntime | None = None
        best_rank: Rank | None = None
        for agent_id in candidates:
            agent = agents[agent_id]
            if not plain and not group.admits(agent):
                continue
            rank = rank_of(agent, scoring, least_busy)
            if best_rank is None or rank < best_rank:
                best, best_rank = agent, rank
        if best is not None:
            self._offer(rt, best, offers)
        return best is not None

    def _offer(self, rt: ItemRuntime, agent: AgentRuntime, offers: list[Offer], *,
               filed: bool = True) -> None:
        """``filed=False``: the caller files the agent in the free index afterwards."""
        item = rt.item
        if not rt.left_queue:
            rt.left_queue = True
            waited = self._now - item.waiting_since
            self._stats.patience.record(item.tenant, item.medium, waited, abandoned=False)
        self._index.remove(rt)
        self._holds.release(rt)
        rt.status, rt.agent = Status.OFFERED, agent.id
        agent.hold(rt.item.id, rt.item.medium, offered=True)
        if filed:
            self._free.refresh(agent)
        offers.append(Offer(rt.item.id, agent.id, rt.item.medium))


Rank = tuple[float, float, float, str]
Scoring = tuple[tuple[tuple[str, str], float, int], ...]  # (attribute, weight, threshold)


def rank_of(agent: AgentRuntime, scoring: Scoring, least_busy: bool) -> Rank:
    """How the router ranks a free agent for an item, best first: by skill score (the
    weighted proficiencies the item asks for), occupancy and idle time, or with
    ``least_busy`` by occupancy and idle time before the score; the id breaks ties."""
    score = 0.0
    if scoring:
        attributes = agent.agent.attributes
        for key, weight, threshold in scoring:
            proficiency = attributes.get(key)
            if proficiency is not None and proficiency >= threshold:
                score -= weight * proficiency
    occupancy = agent.occupancy()
    if least_busy:
        return (occupancy, agent.idle_since, score, agent.agent.id)
    return (score, occupancy, agent.idle_since, agent.agent.id)


def own(agent: Agent) -> Agent:
    """A copy whose attributes no caller can change under the router's feet."""
    return replace(agent, attributes=dict(agent.attributes))


def agent_of(rt: ItemRuntime) -> str:
    assert rt.agent is not None
    return rt.agent


def order_key(rt: ItemRuntime) -> tuple[int, float, str]:
    return rt.key
