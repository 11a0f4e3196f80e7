"""Fair blending: capacity held back for exclusive items that have waited too long.

A blended agent (voice alone, or chats and e-mails together) is only free for a call once it
holds nothing; a stream of chats can keep it from that for ever. Once a waiting item of a
holding medium has waited the tenant's ``Rules.hold_after``, every agent eligible for it that
blends its medium (:meth:`AgentRuntime.blends`) is *kept* for it: it takes no new work of its
other media (:meth:`AgentRuntime.can_take`), so its current work ends, it becomes entirely
free, and it is offered the item (or an item ahead of it). Agents are kept until the item is
offered, removed, rescheduled, or stops being one they are eligible for.

Nothing is scanned in full: overdue items and blended agents are both filed by tenant, medium
and anchor (:mod:`.index`), so an item only meets the agents having its anchor attribute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from ccari.routing.index import FreeIndex, ItemRuntime
from ccari.routing.model import Medium
from ccari.routing.slots import AgentRuntime, Anchor

Key = tuple[str, Medium, Anchor]
V = TypeVar("V")


class Holds:
    """Which agents are kept for which overdue items; ``released`` collects the agents no
    longer kept by anything, to be offered other work when the event settles."""

    def __init__(self, free: FreeIndex) -> None:
        self._free = free
        self._overdue: dict[Key, dict[str, ItemRuntime]] = {}
        self._blenders: dict[Key, dict[str, AgentRuntime]] = {}
        self.released: set[str] = set()
        self.releases = 0
        """How many times an agent was released (a count that only grows)."""

    def hold(self, rt: ItemRuntime) -> None:
        """The waiting item is overdue: keep the eligible blended agents (again, if its
        demands changed since)."""
        group = rt.group
        assert group is not None
        if rt.kept_for == group.signature:
            return
        self.release(rt)
        rt.kept_for = group.signature
        rt.kept_key = key = (rt.item.tenant, rt.item.medium, group.anchor)
        self._overdue.setdefault(key, {})[rt.item.id] = rt
        for agent in self._blenders.get(key, {}).values():
            if group.admits(agent):
                self._keep(rt, agent)

    def release(self, rt: ItemRuntime) -> None:
        """The item no longer holds anything back (offered, gone, not overdue)."""
        key = rt.kept_key
        if key is None:
            return
        rt.kept_for = rt.kept_key = None
        _discard(self._overdue, key, rt.item.id)
        for agent in (rt.keeps or {}).values():
            agent.kept_for.discard(rt.item.id)
            if not agent.kept_for:
                self._free.refresh(agent)
                self.released.add(agent.id)
                self.releases += 1
        rt.keeps = None

    def join(self, agent: AgentRuntime) -> None:
        """A logged-in agent (new, or with new attributes or slots): kept by the overdue
        items it is eligible for. Call :meth:`leave` first for a changed agent."""
        for key in _keys(agent):
            self._blenders.setdefault(key, {})[agent.id] = agent
            for rt in self._overdue.get(key, {}).values():
                assert rt.group is not None
                if rt.group.admits(agent):
                    self._keep(rt, agent)

    def leave(self, agent: AgentRuntime, items: Mapping[str, ItemRuntime]) -> None:
        """The agent logs out or is about to change: no item keeps it any more (the caller
        refreshes its place in the free index)."""
        for item_id in agent.kept_for:
            keeps = items[item_id].keeps
            assert keeps is not None
            del keeps[agent.id]
        agent.kept_for = set()
        for key in _keys(agent):
            _discard(self._blenders, key, agent.id)

    def _keep(self, rt: ItemRuntime, agent: AgentRuntime) -> None:
        if rt.keeps is None:
            rt.keeps = {}
        rt.keeps[agent.id] = agent
        first = not agent.kept_for
        agent.kept_for.add(rt.item.id)
        if first:
            self._free.refresh(agent)


def _keys(agent: AgentRuntime) -> Iterator[Key]:
    tenant = agent.agent.tenant
    for medium in agent.agent.slots.exclusive:
        if agent.blends(medium):
            for anchor in agent.anchors:
                yield (tenant, medium, anchor)


def _discard(index: dict[Key, dict[str, V]], key: Key, ident: str) -> None:
    filed = index[key]
    del filed[ident]
    if not filed:
        del index[key]
