"""Fair blending: capacity held back for exclusive items that have waited too long.

A blended agent (voice alone, or chats and e-mails together) is only free for a call once it
holds nothing; a stream of chats can keep it from that for ever. Once a waiting item of a
holding medium has waited the tenant's ``Rules.hold_after``, every agent eligible for it that
blends its medium (:meth:`AgentRuntime.blends`) is *kept* for it: it takes no new work of its
other media (:meth:`AgentRuntime.can_take`), so its current work ends, it becomes entirely
free, and it is offered the item (or an item ahead of it). Agents are kept until the item is
offered, removed, rescheduled, or stops being one they are eligible for.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccari.routing.index import FreeIndex, ItemRuntime
from ccari.routing.slots import AgentRuntime


class Holds:
    """Which agents are kept for which overdue items; ``released`` collects the agents no
    longer kept by anything, to be offered other work when the event settles."""

    def __init__(self, free: FreeIndex) -> None:
        self._free = free
        self._overdue: dict[str, dict[str, ItemRuntime]] = {}  # tenant -> item id -> item
        self.released: set[str] = set()

    def hold(self, rt: ItemRuntime, agents: Mapping[str, AgentRuntime]) -> None:
        """The waiting item is overdue: keep the tenant's eligible blended agents (again,
        if its demands changed since)."""
        group = rt.group
        assert group is not None
        if rt.kept_for == group.signature:
            return
        self.release(rt, agents)
        rt.kept_for = group.signature
        self._overdue.setdefault(rt.item.tenant, {})[rt.item.id] = rt
        medium = rt.item.medium
        for agent in agents.values():
            if agent.blends(medium) and group.admits(agent):
                self._keep(rt, agent)

    def release(self, rt: ItemRuntime, agents: Mapping[str, AgentRuntime]) -> None:
        """The item no longer holds anything back (offered, gone, not overdue)."""
        if rt.kept_for is None:
            return
        rt.kept_for = None
        overdue = self._overdue[rt.item.tenant]
        del overdue[rt.item.id]
        if not overdue:
            del self._overdue[rt.item.tenant]
        for agent_id in rt.keeps:
            agent = agents[agent_id]
            agent.kept_for.discard(rt.item.id)
            if not agent.kept_for:
                self._free.refresh(agent)
                self.released.add(agent_id)
        rt.keeps = set()

    def join(self, agent: AgentRuntime) -> None:
        """A logged-in agent (new, or with new attributes or slots): kept by the overdue
        items it is eligible for. Call :meth:`leave` first for a changed agent."""
        for rt in self._overdue.get(agent.agent.tenant, {}).values():
            group = rt.group
            assert group is not None
            if agent.blends(rt.item.medium) and group.admits(agent):
                self._keep(rt, agent)

    def leave(self, agent: AgentRuntime, items: Mapping[str, ItemRuntime]) -> None:
        """The agent logs out or changes: no item keeps it any more (the caller refreshes
        its place in the free index)."""
        for item_id in agent.kept_for:
            items[item_id].keeps.discard(agent.id)
        agent.kept_for = set()

    def _keep(self, rt: ItemRuntime, agent: AgentRuntime) -> None:
        rt.keeps.add(agent.id)
        first = not agent.kept_for
        agent.kept_for.add(rt.item.id)
        if first:
            self._free.refresh(agent)
