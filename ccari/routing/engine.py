"""The Router: takes routing events, returns the offers to make now.

Every event method takes ``now`` (seconds, any epoch, never read from a clock), applies the
deadlines reached by then (:meth:`Router.tick` does only that), the event, and settles: see
:mod:`.matching`. Event methods check the event first and change nothing when they refuse it.
The start-up event, :meth:`Router.restore`, is in :mod:`.restore`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import replace

from ccari.routing import waits
from ccari.routing.index import ItemRuntime, Status
from ccari.routing.matching import AGENT, ROUTABLE, agent_of, order_key, own
from ccari.routing.model import (
    Agent,
    AgentState,
    AwayReason,
    DuplicateId,
    InvalidTransition,
    Medium,
    Offer,
    Snapshot,
    WaitPrediction,
    WorkItem,
)
from ccari.routing.restore import Restorer
from ccari.routing.rules import constraint_at


class Router(Restorer):
    """The universal queue of every tenant and medium, matched against one pool of agents.

    ``Router(rules)``; every event method returns the new offers (reservations) to make.
    """

    # -- work items ---------------------------------------------------------------------------

    def add_item(self, item: WorkItem, now: float) -> list[Offer]:
        """A contact arrived (or is reloaded from the store with its original times)."""
        if item.id in self._items:
            raise DuplicateId(f"item {item.id} is already routed")
        dirt = self._advance(now)
        self._admit(item, now, dirt)
        return self._settle(dirt, now)

    def remove_item(self, item_id: str, now: float) -> list[Offer]:
        """The contact is gone (abandoned, cancelled, handled elsewhere) in whatever state."""
        rt = self._item(item_id)
        dirt = self._advance(now)
        del self._items[item_id]
        if rt.status in ROUTABLE:
            self._index.remove(rt)
            self._holds.release(rt)
            if rt.status is Status.WAITING and not rt.left_queue:
                waited = now - rt.item.waiting_since
                self._stats.patience.record(rt.item.tenant, rt.item.medium, waited, abandoned=True)
        else:
            agent = self._agents[agent_of(rt)]
            agent.release(item_id)
            if rt.status is Status.BUSY:
                agent.idle_since = now
            self._freed(agent, dirt)
        return self._settle(dirt, now)

    def accept(self, item_id: str, now: float) -> list[Offer]:
        """The agent took the offered item: its reserved slot becomes busy."""
        rt = self._item(item_id, Status.OFFERED)
        dirt = self._advance(now)
        rt.status = Status.BUSY
        rt.accepted_at = now
        agent_id = agent_of(rt)
        self._agents[agent_id].offered.discard(item_id)
        self._touched.add(agent_id)
        return self._settle(dirt, now)

    def reject(self, item_id: str, now: float, *, missed: bool = False) -> list[Offer]:
        """The offer was refused or missed: the item returns to its place (same order key).

        ``missed``: the offer lapsed unanswered, whatever the medium (a phone that rang out, a
        chat or e-mail not accepted in time on the page). The one rule for every medium: the
        agent goes not ready with the reason :attr:`AwayReason.MISSED_OFFER` (its other items
        go on) and is not offered this item again for ``rules.missed_offer_delay`` seconds,
        even once ready again, so the other work waiting for them comes first.
        Otherwise (refused, or it could not be presented) the agent stays as it was and is not
        offered this item again for ``rules.reoffer_delay`` seconds.
        """
        rt = self._item(item_id, Status.OFFERED)
        dirt = self._advance(now)
        agent = self._agents[agent_of(rt)]
        agent.release(item_id)
        rt.status, rt.agent = Status.WAITING, None
        if missed:
            self._set_presence(agent, AgentState.NOT_READY, now, AwayReason.MISSED_OFFER)
        delay = self.rules.missed_offer_delay if missed else self.rules.reoffer_delay
        if delay > 0:
            if rt.excluded is None:
                rt.excluded = {}
            rt.excluded[agent.id] = now + delay
        self._freed(agent, dirt)
        self._refresh(rt, now, regroup=True)
        dirt.items[item_id] = rt
        return self._settle(dirt, now)

    def complete(self, item_id: str, now: float, *, wrap_up: bool | float = False,
                 away: AwayReason | None = None) -> list[Offer]:
        """The agent finished the item; its handle time feeds the statistics.

        ``wrap_up=True`` keeps the agent in wrap-up (no offers) until :meth:`agent_ready`;
        ``wrap_up=30.0`` for 30 seconds. A not-ready agent stays not-ready. ``away``: the
        agent is made not ready for that reason instead (:attr:`AwayReason.CALL_LOST`: the
        item ended without her, and only she knows when she is free).
        """
        rt = self._item(item_id, Status.BUSY)
        if wrap_up is not True and wrap_up is not False and not wrap_up >= 0:
            raise ValueError("wrap_up must be a bool or a number of seconds >= 0")
        dirt = self._advance(now)
        agent = self._agents[agent_of(rt)]
        item = rt.item
        handled = max(now - rt.accepted_at, 0.0)
        self._stats.handle.record(item.tenant, item.medium, waits.skill_of(item), handled)
        del self._items[item_id]
        agent.release(item_id)
        agent.idle_since = now
        if away is not None:
            self._set_presence(agent, AgentState.NOT_READY, now, away)
        elif wrap_up is not False and wrap_up != 0 and agent.presence is AgentState.READY:
            self._set_presence(agent, AgentState.WRAP_UP, now)
            if wrap_up is not True:
                agent.wrap_until = now + float(wrap_up)
                self._push(agent.wrap_until, AGENT, agent.id, agent.wrap_token)
        self._freed(agent, dirt)
        return self._settle(dirt, now)

    def update_priority(self, item_id: str, priority: int, now: float) -> list[Offer]:
        """Supervisor action: change an item's priority (its place in the queue follows)."""
        rt = self._item(item_id)
        dirt = self._advance(now)
        rt.item = replace(rt.item, priority=priority)
        if rt.status is Status.WAITING:
            self._index.regroup(rt)
        return self._settle(dirt, now)

    def reschedule(self, item_id: str, not_before: float | None, now: float) -> list[Offer]:
        """Supervisor action: route a waiting or scheduled item from ``not_before`` on."""
        rt = self._item(item_id, *ROUTABLE)
        dirt = self._advance(now)
        rt.item = replace(rt.item, not_before=not_before)
        due = not_before is None or not_before <= now
        rt.status = Status.WAITING if due else Status.SCHEDULED
        self._refresh(rt, now, regroup=True)
        if due:
            dirt.items[item_id] = rt
        return self._settle(dirt, now)

    def set_hold_after(self, tenant: str, seconds: float, now: float) -> list[Offer]:
        """A tenant's fair-blending hold changed (``Rules.hold_after``; 0 turns it off)."""
        rules = replace(self.rules, tenant_hold_after={**self.rules.tenant_hold_after,
                                                       tenant: seconds})
        dirt = self._advance(now)
        self.rules = rules
        for rt in _with(self._items.values(), Status.WAITING):
            if rt.item.tenant == tenant:
                self._refresh(rt, now)
        return self._settle(dirt, now)

    def forget_tenant(self, tenant: str) -> None:
        """A deleted tenant: its blending hold, queue rules and statistics go, so that a tenant
        given the same id later starts afresh.  Refused while it has items or agents."""
        if self._tenants.get(tenant) or any(rt.item.tenant == tenant
                                            for rt in self._items.values()):
            raise InvalidTransition(f"tenant {tenant} still has work items or agents")
        self.rules = replace(
            self.rules,
            tenant_hold_after={t: s for t, s in self.rules.tenant_hold_after.items() if t != tenant},
            queues={k: r for k, r in self.rules.queues.items() if k[0] != tenant})
        self._tenants.pop(tenant, None)
        self._ready.pop(tenant, None)
        self._stats.forget(tenant)

    def record_handle_time(self, tenant: str, medium: Medium, skill: str, seconds: float) -> None:
        """Seed the statistics (e.g. from the store on start); ``skill`` is ``skill_of(item)``."""
        self._stats.handle.record(tenant, medium, skill, seconds)

    # -- agents -------------------------------------------------------------------------------

    def agent_login(self, agent: Agent, now: float, *, ready: bool = False,
                    holding: Iterable[tuple[WorkItem, float]] = ()) -> list[Offer]:
        """An agent logs in, not ready unless ``ready``. ``holding``: ``(item, accepted_at)``
        of the work she still handles from before (a chat she accepted, then logged out or
        lost her page): hers again, counted against her slots as :meth:`restore` counts it."""
        if agent.id in self._agents:
            raise DuplicateId(f"agent {agent.id} is already logged in")
        held = list(holding)
        for item, _ in held:
            if item.id in self._items:
                raise DuplicateId(f"item {item.id} is already routed")
        dirt = self._advance(now)
        presence = AgentState.READY if ready else AgentState.NOT_READY
        self._login(agent, presence, now, dirt, indexed=False)
        for item, accepted_at in held:
            self._hold_busy(item, agent.id, accepted_at)
        self._freed(self._agents[agent.id], dirt)
        return self._settle(dirt, now)

    def agent_update(self, agent: Agent, now: float) -> list[Offer]:
        """New attributes, pools or slots for a logged-in agent; work in progress is kept."""
        current = self._agent(agent.id)
        if agent.tenant != current.agent.tenant:
            raise InvalidTransition(f"agent {agent.id} cannot change tenant while logged in")
        dirt = self._advance(now)
        self._free.drop(current)
        self._holds.leave(current, self._items)
        current.rebind(own(agent))
        self._holds.join(current)
        self._freed(current, dirt)
        return self._settle(dirt, now)

    def agent_ready(self, agent_id: str, now: float) -> list[Offer]:
        """The agent is ready (after not-ready, or to end a wrap-up)."""
        agent = self._agent(agent_id)
        dirt = self._advance(now)
        if agent.presence is AgentState.NOT_READY:
            agent.idle_since = now
        if agent.presence is not AgentState.READY:
            self._set_presence(agent, AgentState.READY, now)
            self._freed(agent, dirt)
        return self._settle(dirt, now)

    def agent_not_ready(self, agent_id: str, now: float, *,
                        reason: AwayReason | None = None) -> list[Offer]:
        """No new offers for this agent; its offers and items in progress are unaffected.
        ``reason``: ccari, not the agent, made her so (as a store saved it)."""
        agent = self._agent(agent_id)
        dirt = self._advance(now)
        self._set_presence(agent, AgentState.NOT_READY, now, reason)
        self._free.refresh(agent)
        return self._settle(dirt, now)

    def agent_engaged(self, agent_id: str, now: float) -> list[Offer]:
        """On a call the router did not place (a consult, a conference): not ready with the
        reason :attr:`AwayReason.IN_CALL` until :meth:`agent_disengaged`."""
        agent = self._agent(agent_id)
        dirt = self._advance(now)
        self._set_presence(agent, AgentState.NOT_READY, now, AwayReason.IN_CALL)
        self._free.refresh(agent)
        return self._settle(dirt, now)

    def agent_disengaged(self, agent_id: str, now: float) -> list[Offer]:
        """Ready again after :meth:`agent_engaged`, unless her presence changed meanwhile."""
        if self._agent(agent_id).reason is not AwayReason.IN_CALL:
            return []
        return self.agent_ready(agent_id, now)

    def agent_logout(self, agent_id: str, now: float) -> list[Offer]:
        """The agent leaves: its offered items return to their place; its busy items are dropped."""
        agent = self._agent(agent_id)
        dirt = self._advance(now)
        for item_id in sorted(agent.held):
            rt = self._items[item_id]
            if rt.status is Status.BUSY:
                del self._items[item_id]
                continue
            rt.status, rt.agent = Status.WAITING, None
            self._refresh(rt, now, regroup=True)
            dirt.items[item_id] = rt
        self._free.drop(agent)
        self._holds.leave(agent, self._items)
        if agent.presence is AgentState.READY:
            self._ready[agent.agent.tenant] -= 1
        del self._agents[agent_id]
        self._touched.add(agent_id)
        tenant = self._tenants[agent.agent.tenant]
        del tenant[agent_id]
        if not tenant:
            del self._tenants[agent.agent.tenant]
        return self._settle(dirt, now)

    # -- time ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Offer]:
        """Apply the deadlines reached by ``now``; call it at :meth:`next_deadline`."""
        return self._settle(self._advance(now), now)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, or ``None``."""
        deadlines = self._deadlines
        while deadlines and not self._live(deadlines[0]):
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    # -- queries ------------------------------------------------------------------------------

    def waiting(self, tenant: str, *, include_scheduled: bool = False) -> list[WorkItem]:
        """A tenant's waiting items in routing order (then scheduled ones, by ``not_before``)."""
        mine = [rt for rt in self._items.values() if rt.item.tenant == tenant]
        result = [rt.item for rt in sorted(_with(mine, Status.WAITING), key=order_key)]
        if include_scheduled:
            result += sorted((rt.item for rt in _with(mine, Status.SCHEDULED)), key=_scheduled)
        return result

    def position(self, item_id: str) -> int | None:
        """1 + the (weighted, rounded) number of items ahead competing for the same agents."""
        rt = self._item(item_id)
        if rt.status is not Status.WAITING:
            return None
        return waits.position(self._facts(), rt)

    def predict_new(self, item: WorkItem, now: float) -> WaitPrediction:
        """Predicted wait of an item that is not in the queue (a customer deciding whether
        to ask for a chat or a callback); the router is not changed."""
        rule = self.rules.rule_for(item.tenant, item.queue)
        probe = ItemRuntime(item, rule, Status.WAITING, 0, constraint_at(item, rule, 0))
        return waits.predict(self._facts(), probe, now)

    def predicted_wait(self, item_id: str, now: float) -> WaitPrediction:
        """Predicted wait of one item (0 once offered), as of the last event or tick."""
        return waits.predict(self._facts(), self._item(item_id), now)

    def predicted_waits(self, tenant: str, now: float) -> dict[str, WaitPrediction]:
        """Predictions for all of a tenant's waiting and scheduled items, in one pass."""
        return waits.predict_all(self._facts(), tenant, now)

    def touched_agents(self) -> set[str]:
        """The agents whose state may have changed since the last call (then forgotten):
        who to look at instead of every agent after each decision."""
        touched = set(self._touched)
        self._touched.clear()  # the same set: every agent's runtime marks it
        return touched

    def agent_state(self, agent_id: str) -> AgentState:
        agent = self._agents.get(agent_id)
        return AgentState.LOGGED_OUT if agent is None else agent.state()

    def routes(self, item_id: str) -> bool:
        """Whether the item is in the router (waiting, scheduled, offered or being handled)."""
        return item_id in self._items

    def offered_to(self, item_id: str) -> str | None:
        """The agent the item is offered to now; ``None`` when it is not offered (or
        unknown)."""
        rt = self._items.get(item_id)
        return rt.agent if rt is not None and rt.status is Status.OFFERED else None

    def agent_reason(self, agent_id: str) -> AwayReason | None:
        """Why a not-ready agent is not ready when the router made it so (a missed offer);
        ``None`` when the agent chose it, or is not not-ready."""
        agent = self._agents.get(agent_id)
        return None if agent is None else agent.reason

    def agent_wrap_until(self, agent_id: str) -> float | None:
        """When the agent's timed wrap-up ends (she is ready then); ``None`` when she is not
        in wrap-up or it lasts until :meth:`agent_ready`. What a store keeps for
        :meth:`restore` (``wrap_until``)."""
        agent = self._agents.get(agent_id)
        return None if agent is None else agent.wrap_until

    def agent_kept_for(self, agent_id: str) -> tuple[str, ...]:
        """The waiting items capacity is held back for on this agent (fair blending: it gets
        no new work of its other media until they are placed); empty when none."""
        agent = self._agents.get(agent_id)
        return () if agent is None else tuple(sorted(agent.kept_for))

    def taking_work(self, tenant: str) -> int:
        """The tenant's agents logged in and taking work: ready, reserved or busy (not
        not-ready, not in wrap-up)."""
        return self._ready[tenant]

    def snapshot(self) -> Snapshot:
        items = list(self._items.values())
        held = [rt for rt in items if rt.status in (Status.OFFERED, Status.BUSY)]
        scheduled = sorted((rt.item for rt in _with(items, Status.SCHEDULED)), key=_scheduled)
        return Snapshot(
            waiting=tuple(rt.item.id for rt in sorted(_with(items, Status.WAITING), key=order_key)),
            scheduled=tuple(item.id for item in scheduled),
            offers=tuple(
                sorted(
                    Offer(rt.item.id, agent_of(rt), rt.item.medium)
                    for rt in held if rt.status is Status.OFFERED
                )
            ),
            busy=tuple(
                sorted((rt.item.id, agent_of(rt)) for rt in held if rt.status is Status.BUSY)
            ),
            agents=tuple((a, self._agents[a].state()) for a in sorted(self._agents)),
        )


def _scheduled(item: WorkItem) -> tuple[float, tuple[int, float, str]]:
    return (math.inf if item.not_before is None else item.not_before, item.order_key)


def _with(items: Iterable[ItemRuntime], status: Status) -> list[ItemRuntime]:
    return [rt for rt in items if rt.status is status]
