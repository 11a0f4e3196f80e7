"""Start-up: a router rebuilt from the store in one go (:meth:`Restorer.restore`).

A node that comes back may find 100,000 waiting items and 20,000 agents; it must route again
in seconds. The restore builds the same state as logging every agent in and adding every item
one event at a time would (the property tests compare both), in bulk: each item is refiled
once with the demands of its relaxation level, the group heaps and the deadlines are heapified
once instead of pushed into one by one, and the items are placed once, in queue order, after
every agent is in with what it holds (a group whose first item found no free agent is not
tried again: the same demands, fewer free slots).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from ccari.routing.index import ItemRuntime, Status
from ccari.routing.matching import AGENT, ITEM, Dirt, Matcher
from ccari.routing.model import (
    Agent,
    AgentState,
    AwayReason,
    DuplicateId,
    InvalidTransition,
    Offer,
    WorkItem,
)
from ccari.routing.rules import level_at, step_time


class Restorer(Matcher):
    """The start-up event of :class:`ccari.routing.Router`."""

    def restore(
        self,
        now: float,
        *,
        agents: Iterable[tuple[Agent, AgentState]],
        in_progress: Iterable[tuple[WorkItem, str, float]] = (),
        waiting: Iterable[WorkItem] = (),
        offered: Iterable[tuple[WorkItem, str]] = (),
        excluded: Mapping[str, Mapping[str, float]] | None = None,
        reasons: Mapping[str, AwayReason] | None = None,
        wrap_until: Mapping[str, float] | None = None,
    ) -> list[Offer]:
        """Rebuild an empty router from the store, then settle once.

        ``agents``: logged-in agents with their last state (``ready``/``reserved``/``busy`` all
        mean ready; ``wrap_up`` lasts until :meth:`agent_ready`, or as ``wrap_until`` says).
        ``in_progress``: ``(item, agent_id, accepted_at)`` of the items being handled.
        ``waiting``: every other open item, offers that were pending included, with their
        original ``arrived_at``: the order is that of the order keys, so it is the same as
        before the restart (the input's order does not matter). ``offered``: ``(item,
        agent_id)`` of offers still pending (made by the router being rebuilt, so still shown
        to their agents): held as offers, answered as any other (accepted, rejected,
        withdrawn). ``excluded``: item id -> agent id -> until when: the waiting items' agents
        who refused or missed them lately (as :meth:`~ccari.routing.Router.reject` keeps them
        apart), not offered them before then. ``reasons``: agent id -> why the router had made
        a not-ready agent so (a missed offer), shown again as it was. ``wrap_until``: agent id
        -> when the timed wrap-up of an agent restored in ``wrap_up`` ends (as
        ``complete(..., wrap_up=seconds)`` set it): she is ready then, by herself, or at once
        if that time has passed.
        """
        if self._items or self._agents:
            raise InvalidTransition("restore needs an empty router")
        staff: list[tuple[Agent, AgentState]] = [
            (a, s) for a, s in agents if s is not AgentState.LOGGED_OUT
        ]
        busy, queued, pending = list(in_progress), list(waiting), list(offered)
        _check_restore(staff, busy, queued, pending)
        self._now = now
        dirt = Dirt()
        for agent, state in staff:
            until = wrap_until.get(agent.id) if wrap_until else None
            if state in (AgentState.RESERVED, AgentState.BUSY) or (
                    state is AgentState.WRAP_UP and until is not None and until <= now):
                state = AgentState.READY  # (a timed wrap-up that ended while nobody routed)
            self._login(agent, state, now, dirt, indexed=False)
            runtime = self._agents[agent.id]
            if state is AgentState.NOT_READY and reasons and agent.id in reasons:
                runtime.reason = reasons[agent.id]
            if state is AgentState.WRAP_UP and until is not None:
                runtime.wrap_until = until  # then ready by herself, as after complete()
                self._push(until, AGENT, agent.id, runtime.wrap_token)
        for item, agent_id, accepted_at in busy:
            self._hold_busy(item, agent_id, accepted_at)
        for item, agent_id in pending:
            rule = self.rules.rule_for(item.tenant, item.queue)
            rt = ItemRuntime(item, rule, Status.OFFERED, 0, self._constraint(item, rule, 0))
            rt.agent, rt.left_queue = agent_id, True
            self._items[item.id] = rt
            self._agents[agent_id].hold(item.id, item.medium, offered=True)
        for agent, _ in staff:  # indexed once, with what they hold: full agents never are
            self._freed(self._agents[agent.id], dirt)
        self._admit_all(queued, now, dirt, excluded or {})
        return self._settle(dirt, now, items_first=True)

    def _hold_busy(self, item: WorkItem, agent_id: str, accepted_at: float) -> None:
        """The item, handled by the agent since ``accepted_at``, held by her (she is not
        indexed yet: her free slots are counted after)."""
        rule = self.rules.rule_for(item.tenant, item.queue)
        rt = ItemRuntime(item, rule, Status.BUSY, 0, self._constraint(item, rule, 0))
        rt.agent, rt.accepted_at, rt.left_queue = agent_id, accepted_at, True
        self._items[item.id] = rt
        self._agents[agent_id].hold(item.id, item.medium, offered=False)

    def _admit_all(self, items: list[WorkItem], now: float, dirt: Dirt,
                   excluded: Mapping[str, Mapping[str, float]]) -> None:
        """What ``_admit`` does for each item, in bulk: the items are new (nothing held back
        yet; kept from an agent only as ``excluded`` says), so each is filed once at its
        level."""
        rules, items_by_id, due_items = self.rules, self._items, dirt.items
        runtimes: list[ItemRuntime] = []
        for item in items:
            rule = rules.rule_for(item.tenant, item.queue)
            if item.not_before is None or item.not_before <= now:
                level = level_at(item, rule, now)
                rt = ItemRuntime(item, rule, Status.WAITING, level,
                                 self._constraint(item, rule, level))
                due_items[item.id] = rt
            else:
                rt = ItemRuntime(item, rule, Status.SCHEDULED, 0, self._constraint(item, rule, 0))
            apart = excluded.get(item.id)
            if apart:
                rt.excluded = {a: until for a, until in apart.items() if until > now} or None
            items_by_id[item.id] = rt
            runtimes.append(rt)
        self._index.add_all([rt for rt in runtimes if rt.status is Status.WAITING])
        deadlines, holds = self._deadlines, self._holds
        token = self._token
        for rt in runtimes:
            item = rt.item
            if rt.status is Status.SCHEDULED:
                when: float | None = item.not_before
            else:
                when = step_time(item, rt.rule, rt.level)
                holding = rules.holding(item)
                if holding is not None and holding <= now:
                    holds.hold(rt)
                elif holding is not None and (when is None or holding < when):
                    when = holding
            if rt.excluded:  # the item is looked at again when an agent may have it
                first = min(rt.excluded.values())
                when = first if when is None else min(when, first)
            token += 1
            rt.deadline_token = token
            if when is not None:
                deadlines.append((when, ITEM, item.id, token))
        self._token = token
        heapq.heapify(deadlines)


def _check_restore(
    staff: list[tuple[Agent, AgentState]],
    busy: list[tuple[WorkItem, str, float]],
    queued: list[WorkItem],
    pending: list[tuple[WorkItem, str]],
) -> None:
    """Refuse inconsistent input before anything changes."""
    agent_ids = [a.id for a, _ in staff]
    item_ids = ([item.id for item, _, _ in busy] + [item.id for item in queued]
                + [item.id for item, _ in pending])
    for ids in (agent_ids, item_ids):
        if len(set(ids)) != len(ids):
            raise DuplicateId("restore got the same id twice")
    missing = ({agent_id for _, agent_id, _ in busy}
               | {agent_id for _, agent_id in pending}) - set(agent_ids)
    if missing:
        raise InvalidTransition(f"items held by agents not logged in: {sorted(missing)}")
