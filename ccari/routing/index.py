"""Indexes that spare the router any full scan of items or agents.

Waiting items are grouped by what they demand of an agent (tenant, medium, required attributes
with minimums, pools, reservation, agents excluded after a reject). Each group keeps its items
in a heap ordered by ``WorkItem.order_key`` and is filed under one *anchor*: one of its required
attributes (any agent eligible for the group has it), the reserved agent, or :data:`ANY`. A
freed agent therefore only looks at the groups filed under its own attributes.

Agents with a free slot are indexed by ``(tenant, medium)`` and by attribute, so a new item only
looks at free agents having its rarest required attribute.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from sortedcontainers import SortedList

from ccari.routing.model import Medium, WorkItem
from ccari.routing.rules import Constraint, QueueRule
from ccari.routing.slots import ANY, AgentRuntime, Anchor, Profile, reserved_anchor

K = TypeVar("K")
NOBODY: frozenset[str] = frozenset()
Rank = tuple[float, float, str]  # occupancy, idle since, agent id
OrderKey = tuple[int, float, str]
Signature = tuple[
    str, Medium, tuple[tuple[str, str, int], ...], frozenset[str] | None, str | None, frozenset[str]
]


class Status(Enum):
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    OFFERED = "offered"
    BUSY = "busy"


@dataclass(eq=False, slots=True)
class ItemRuntime:
    """One work item inside the router."""

    item: WorkItem
    rule: QueueRule
    status: Status
    level: int
    constraint: Constraint
    excluded: dict[str, float] | None = None
    """Agents it is kept from until a time (after a refused or missed offer); ``None`` for
    none (most items: no dict each)."""
    group: Group | None = None
    token: int = 0
    deadline_token: int = 0
    agent: str | None = None
    accepted_at: float = 0.0
    left_queue: bool = False
    """Whether its first wait ended (served or abandoned), for the patience statistics."""
    keeps: dict[str, AgentRuntime] | None = None
    """Agents whose capacity is held back for it (fair blending), as of ``kept_for``."""
    kept_for: Signature | None = None
    """The demands ``keeps`` was computed for; ``None`` while it holds nothing back."""
    kept_key: tuple[str, Medium, Anchor] | None = None
    """Where it is filed among the overdue items (see :mod:`.holds`) while it holds."""

    @property
    def key(self) -> OrderKey:
        return self.item.order_key

    def signature(self) -> Signature:
        c = self.constraint
        item = self.item
        excluded = frozenset(self.excluded) if self.excluded else NOBODY
        return (item.tenant, item.medium, c.required, c.pools, c.reserved, excluded)


@dataclass(eq=False, slots=True)
class Group:
    """Waiting items with the same demands, best first."""

    signature: Signature
    anchor: Anchor
    heap: list[tuple[OrderKey, int, ItemRuntime]] = field(default_factory=list)
    live: int = 0

    @property
    def tenant(self) -> str:
        return self.signature[0]

    @property
    def medium(self) -> Medium:
        return self.signature[1]

    def admits(self, agent: AgentRuntime) -> bool:
        """Whether the agent meets the group's demands (slots aside)."""
        _, _, required, pools, reserved, excluded = self.signature
        a = agent.agent
        if reserved is not None and reserved != a.id:
            return False
        if excluded and a.id in excluded:
            return False
        if pools is not None and pools.isdisjoint(a.pools):
            return False
        attributes = a.attributes
        for name, value, floor in required:
            proficiency = attributes.get((name, value))
            if proficiency is None or proficiency < floor:
                return False
        return True

    def head(self) -> tuple[OrderKey, int, ItemRuntime] | None:
        """The heap entry of the first live item."""
        heap = self.heap
        while heap:
            entry = heap[0]
            rt = entry[2]
            if rt.group is self and rt.token == entry[1]:
                return entry
            heapq.heappop(heap)
        return None

    def items(self) -> Iterator[ItemRuntime]:
        """The live items, in no particular order."""
        for _, token, rt in self.heap:
            if rt.group is self and rt.token == token:
                yield rt


class ItemIndex:
    """Waiting items, grouped and filed by anchor."""

    def __init__(self) -> None:
        self._groups: dict[Signature, Group] = {}
        self._by_anchor: dict[tuple[str, Medium], dict[Anchor, dict[Group, None]]] = {}
        self._token = 0

    def add(self, rt: ItemRuntime) -> None:
        group = self._group(rt.signature(), rt)
        self._token += 1
        rt.token = self._token
        rt.group = group
        group.live += 1
        heapq.heappush(group.heap, (rt.key, rt.token, rt))

    def add_all(self, rts: list[ItemRuntime]) -> None:
        """:meth:`add` of many items at once (each group's heap is made once)."""
        filled: dict[Group, None] = {}
        token = self._token
        for rt in rts:
            sig = rt.signature()
            group = self._groups.get(sig)
            if group is None:
                group = self._group(sig, rt)
            token += 1
            rt.token, rt.group = token, group
            group.live += 1
            group.heap.append((rt.key, token, rt))
            filled[group] = None
        self._token = token
        for group in filled:
            heapq.heapify(group.heap)

    def _group(self, sig: Signature, rt: ItemRuntime) -> Group:
        group = self._groups.get(sig)
        if group is None:
            group = Group(sig, _anchor(rt.constraint))
            self._groups[sig] = group
            anchors = self._by_anchor.setdefault((sig[0], sig[1]), {})
            anchors.setdefault(group.anchor, {})[group] = None
        return group

    def remove(self, rt: ItemRuntime) -> None:
        group = rt.group
        if group is None:
            return
        rt.group = None
        group.live -= 1
        if group.live == 0:
            del self._groups[group.signature]
            anchors = self._by_anchor[(group.tenant, group.medium)]
            filed = anchors[group.anchor]
            del filed[group]
            if not filed:
                del anchors[group.anchor]
            if not anchors:
                del self._by_anchor[(group.tenant, group.medium)]
        elif len(group.heap) > 2 * group.live + 16:
            group.heap = [e for e in group.heap if e[2].group is group and e[2].token == e[1]]
            heapq.heapify(group.heap)

    def regroup(self, rt: ItemRuntime) -> None:
        """Refile an item whose demands or order key changed."""
        self.remove(rt)
        self.add(rt)

    def best_for(self, agent: AgentRuntime, medium: Medium) -> ItemRuntime | None:
        """The first waiting item of this medium the agent is eligible for."""
        anchors = self._by_anchor.get((agent.agent.tenant, medium))
        if not anchors:
            return None
        best: tuple[OrderKey, int, ItemRuntime] | None = None
        for anchor in agent.anchors:
            groups = anchors.get(anchor)
            if not groups:
                continue
            for group in groups:
                head = group.head()
                if head is None or (best is not None and head[0] >= best[0]):
                    continue
                if group.admits(agent):
                    best = head
        return None if best is None else best[2]

    def groups(self, tenant: str, medium: Medium) -> Iterator[Group]:
        """Every group of a tenant and medium, in a deterministic order."""
        for filed in self._by_anchor.get((tenant, medium), {}).values():
            yield from filed

    def all_groups(self) -> Iterator[Group]:
        yield from self._groups.values()


def _anchor(constraint: Constraint) -> Anchor:
    if constraint.reserved is not None:
        return reserved_anchor(constraint.reserved)
    if constraint.required:
        name, value, _ = constraint.required[0]
        return (name, value)
    return ANY


class FreeIndex:
    """Agents that can take an item of a medium right now, by tenant and by attribute, and
    in the order the router prefers them when no skill scores apply: least occupied, then
    idle longest, then by id (:meth:`ranked`)."""

    def __init__(self) -> None:
        self._free: dict[tuple[str, Medium], set[str]] = {}
        self._by_attr: dict[tuple[str, Medium, str, str], set[str]] = {}
        self._ranked: dict[tuple[str, Medium], SortedList] = {}
        # The same order per attribute profile: agents with the same attributes get the same
        # skill score from any item, so the first eligible of each profile competes.
        self._profiles: dict[tuple[str, Medium], dict[Profile, SortedList]] = {}
        self._rank: dict[str, tuple[Rank, Profile]] = {}  # each free agent's place in them

    def refresh(self, agent: AgentRuntime) -> None:
        """Bring the index in line with the agent's current ``takeable()`` media, occupancy
        and idle time (called after every change of them; nothing moves if none changed)."""
        now_free, was_free = agent.takeable(), agent.free_media
        a = agent.agent
        if now_free:
            rank = (agent.occupancy(), agent.idle_since, a.id)
            if now_free == was_free and self._rank[a.id][0] == rank:
                return
        elif not was_free:
            return
        self._unrank(agent, was_free)
        if now_free != was_free:
            self._move(agent, was_free - now_free, add=False)
            self._move(agent, now_free - was_free, add=True)
            agent.free_media = now_free
        if not now_free:
            return
        profile = agent.profile
        if profile is None:
            profile = agent.profile = frozenset(a.attributes.items())
        self._rank[a.id] = (rank, profile)
        for medium in now_free:
            key = (a.tenant, medium)
            ranked = self._ranked.get(key)
            if ranked is None:
                ranked = self._ranked[key] = SortedList()
            ranked.add(rank)
            profiles = self._profiles.get(key)
            if profiles is None:
                profiles = self._profiles[key] = {}
            same = profiles.get(profile)
            if same is None:
                same = profiles[profile] = SortedList()
            same.add(rank)

    def drop(self, agent: AgentRuntime) -> None:
        self._unrank(agent, agent.free_media)
        self._move(agent, agent.free_media, add=False)
        agent.free_media = frozenset()

    def _unrank(self, agent: AgentRuntime, media: frozenset[Medium]) -> None:
        placed = self._rank.pop(agent.agent.id, None)
        if placed is None:
            return
        rank, profile = placed
        for medium in media:
            key = (agent.agent.tenant, medium)
            ranked = self._ranked[key]
            ranked.remove(rank)
            if not ranked:
                del self._ranked[key]
            profiles = self._profiles[key]
            same = profiles[profile]
            same.remove(rank)
            if not same:
                del profiles[profile]
                if not profiles:
                    del self._profiles[key]

    def _move(self, agent: AgentRuntime, media: frozenset[Medium], *, add: bool) -> None:
        a = agent.agent
        for medium in media:
            _update(self._free, (a.tenant, medium), a.id, add=add)
            for name, value in a.attributes:
                _update(self._by_attr, (a.tenant, medium, name, value), a.id, add=add)

    def candidates(self, tenant: str, medium: Medium, constraint: Constraint) -> AbstractSet[str]:
        """A superset of the free agents meeting the constraint: the smallest index that
        applies (the index's own set: not to be changed)."""
        free = self._free.get((tenant, medium), NOBODY)
        reserved = constraint.reserved
        if reserved is not None:
            return {reserved} if reserved in free else NOBODY
        best = free
        for name, value, _ in constraint.required:
            members = self._by_attr.get((tenant, medium, name, value), NOBODY)
            if len(members) < len(best):
                best = members
        return best

    def profiles(self, tenant: str, medium: Medium) -> Iterator[Iterator[str]]:
        """The free agents of a tenant for a medium by attribute profile, each profile's in
        the order of :meth:`ranked`."""
        for ranked in self._profiles.get((tenant, medium), {}).values():
            yield (agent_id for _, _, agent_id in ranked)

    def profile_count(self, tenant: str, medium: Medium) -> int:
        return len(self._profiles.get((tenant, medium), ()))

    def ranked(self, tenant: str, medium: Medium) -> Iterator[str]:
        """The free agents of a tenant for a medium, least occupied first, then idle longest,
        then by id."""
        for _, _, agent_id in self._ranked.get((tenant, medium), ()):
            yield agent_id


def _update(index: dict[K, set[str]], key: K, agent_id: str, *, add: bool) -> None:
    if add:
        index.setdefault(key, set()).add(agent_id)
        return
    members = index[key]
    members.discard(agent_id)
    if not members:
        del index[key]
