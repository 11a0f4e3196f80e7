"""A naive reference model of the routing state, written independently of the router.

It follows the same events, applies the offers the router returns one by one, and checks each
against the routing invariants using nothing but full scans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ccari.routing import Agent, AgentState, AwayReason, Medium, Offer, Rules, WorkItem


@dataclass
class OItem:
    item: WorkItem
    agent: str | None = None  # set once offered
    busy: bool = False
    excluded: dict[str, float] = field(default_factory=dict)


@dataclass
class OAgent:
    agent: Agent
    presence: AgentState
    wrap_until: float | None = None
    reason: AwayReason | None = None
    held: dict[str, Medium] = field(default_factory=dict)


class Violation(AssertionError):
    pass


class Oracle:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.items: dict[str, OItem] = {}
        self.agents: dict[str, OAgent] = {}
        self.now = 0.0
        # (item, agent): since when the item has waited while the agent was free for it and
        # qualified for it but for a re-offer delay (see check_offered_in_time).
        self.kept_since: dict[tuple[str, str], float] = {}
        # (overdue exclusive item, blended agent eligible for it): the work the agent held
        # when that began (see check_held_back).
        self.work_then: dict[tuple[str, str], frozenset[str]] = {}

    # -- time ----------------------------------------------------------------------------------

    def at(self, now: float) -> None:
        self.now = now
        for a in self.agents.values():
            if a.presence is AgentState.WRAP_UP and a.wrap_until is not None:
                if a.wrap_until <= now:
                    a.presence, a.wrap_until = AgentState.READY, None

    # -- what the rules say ---------------------------------------------------------------------

    def demands(self, it: OItem) -> tuple[list[tuple[str, str, int]], frozenset[str] | None, str | None]:
        item = it.item
        rule = self.rules.queues.get((item.tenant, item.queue), self.rules.default)
        since = item.arrived_at if item.not_before is None else max(item.arrived_at, item.not_before)
        reached = [s for s in rule.steps if since + s.after <= self.now]
        caps = [s.min_proficiency for s in reached if s.min_proficiency is not None]
        relaxed = {name for s in reached for name in s.relax}
        pools = rule.pools
        for s in reached:
            pools = None if pools is None else pools | s.add_pools
        reserved = None if any(s.release_reservation for s in reached) else item.reserved_agent
        required = [
            (r.name, r.value, min([r.min_proficiency, *caps]))
            for r in item.requirements if r.required and r.name not in relaxed
        ]
        return required, pools, reserved

    def waiting(self, it: OItem) -> bool:
        nb = it.item.not_before
        return it.agent is None and (nb is None or nb <= self.now)

    def qualifies(self, it: OItem, a: OAgent, *, ignore_delays: bool = False) -> bool:
        """Tenant, reservation, pools, required attributes and re-offer delay (slots aside)."""
        if a.agent.tenant != it.item.tenant:
            return False
        if not ignore_delays and it.excluded.get(a.agent.id, -1e300) > self.now:
            return False
        required, pools, reserved = self.demands(it)
        if reserved is not None and reserved != a.agent.id:
            return False
        if pools is not None and not (pools & a.agent.pools):
            return False
        attrs = a.agent.attributes
        return all((n, v) in attrs and attrs[(n, v)] >= floor for n, v, floor in required)

    def has_room(self, a: OAgent, medium: Medium) -> bool:
        slots = a.agent.slots
        used = list(a.held.values())
        if a.presence is not AgentState.READY or len(used) >= slots.total:
            return False
        if used.count(medium) >= slots.per_medium.get(medium, 0):
            return False
        if any(m in slots.exclusive for m in used):
            return False
        if medium not in slots.exclusive and self.held_back_for(a):
            return False
        return not (medium in slots.exclusive and used)

    # -- fair blending -------------------------------------------------------------------------

    def overdue(self, it: OItem) -> bool:
        """A waiting item of a holding medium that waited the tenant's hold (on)."""
        item = it.item
        hold = self.rules.tenant_hold_after.get(item.tenant, self.rules.hold_after)
        if hold <= 0 or item.medium not in self.rules.hold_media or not self.waiting(it):
            return False
        since = item.arrived_at if item.not_before is None else max(item.arrived_at, item.not_before)
        return since + hold <= self.now

    def blends_for(self, it: OItem, a: OAgent) -> bool:
        """The agent takes the item's medium only alone, and has other media."""
        slots, medium = a.agent.slots, it.item.medium
        return (medium in slots.exclusive and min(slots.per_medium.get(medium, 0), slots.total) > 0
                and any(n > 0 for m, n in slots.per_medium.items() if m not in slots.exclusive))

    def held_back_for(self, a: OAgent) -> list[str]:
        """The overdue exclusive items the agent is eligible for (capacity held back)."""
        return sorted(
            it.item.id for it in self.items.values()
            if self.overdue(it) and self.blends_for(it, a) and self.qualifies(it, a)
        )

    def order(self, it: OItem) -> tuple[int, float, str]:
        item = it.item
        since = item.arrived_at if item.not_before is None else max(item.arrived_at, item.not_before)
        return (-item.priority, since, item.id)

    # -- checks --------------------------------------------------------------------------------

    def apply_offers(self, offers: list[Offer]) -> None:
        for offer in offers:
            it, a = self.items.get(offer.item_id), self.agents.get(offer.agent_id)
            if it is None or a is None or not self.waiting(it):
                raise Violation(f"offer of a non-waiting item or to an unknown agent: {offer}")
            if offer.medium is not it.item.medium:
                raise Violation(f"wrong medium: {offer}")
            if not self.qualifies(it, a):
                raise Violation(f"agent lacks a required attribute (or tenant/pool): {offer}")
            if it.item.medium not in a.agent.slots.exclusive and self.held_back_for(a):
                raise Violation(f"{offer} while held back for {self.held_back_for(a)}")
            if not self.has_room(a, it.item.medium):
                raise Violation(f"slot capacity exceeded: {offer}")
            mine = self.order(it)
            for other in self.items.values():
                if other is it or not self.waiting(other) or self.order(other) >= mine:
                    continue
                if self.qualifies(other, a) and self.has_room(a, other.item.medium):
                    raise Violation(f"{offer} while {other.item.id} is ahead and eligible")
            it.agent = a.agent.id
            a.held[it.item.id] = it.item.medium
            for pair in [p for p in self.kept_since if p[0] == it.item.id]:
                del self.kept_since[pair]

    def check_settled(self) -> None:
        """No waiting item is eligible for an agent with a free slot."""
        for it in self.items.values():
            if not self.waiting(it):
                continue
            for a in self.agents.values():
                if self.has_room(a, it.item.medium) and self.qualifies(it, a):
                    raise Violation(f"{it.item.id} waits while {a.agent.id} is free and eligible")

    def check_offered_in_time(self) -> None:
        """A waiting item is offered within a bounded time while an agent who may take it is
        ready with room: a re-offer delay (after a refusal or a missed offer) is the only thing
        that may keep them apart, and it ends by itself."""
        bound = max(self.rules.reoffer_delay, self.rules.missed_offer_delay)
        now_kept: dict[tuple[str, str], float] = {}
        for it in self.items.values():
            if not self.waiting(it):
                continue
            for a in self.agents.values():
                if not self.has_room(a, it.item.medium):
                    continue
                if not self.qualifies(it, a, ignore_delays=True):
                    continue
                pair = (it.item.id, a.agent.id)
                since = now_kept[pair] = self.kept_since.get(pair, self.now)
                if self.now - since > bound:
                    raise Violation(f"{pair[0]} waited {self.now - since}s for ready agent {pair[1]}")
        self.kept_since = now_kept

    def check_held_back(self) -> None:
        """Fair blending: while an overdue exclusive item waits, a ready blended agent
        eligible for it takes no new work of other media. So it is offered (or an item ahead of
        it is, to that agent) at the latest when the work that agent held when it became
        overdue has ended: then the agent is entirely free and check_settled applies."""
        now_then: dict[tuple[str, str], frozenset[str]] = {}
        for it in self.items.values():
            if not self.overdue(it):
                continue
            for a in self.agents.values():
                if a.presence is not AgentState.READY or not self.blends_for(it, a):
                    continue
                if not self.qualifies(it, a):
                    continue
                pair = (it.item.id, a.agent.id)
                then = now_then[pair] = self.work_then.get(pair, frozenset(a.held))
                exclusive = a.agent.slots.exclusive
                new = [i for i, m in a.held.items() if i not in then and m not in exclusive]
                if new:
                    raise Violation(f"{a.agent.id} took {new} while {it.item.id} waited overdue")
                if not a.held:
                    raise Violation(f"{it.item.id} waits overdue while {a.agent.id} is free")
        self.work_then = now_then

    def check_capacity(self) -> None:
        for a in self.agents.values():
            slots, used = a.agent.slots, list(a.held.values())
            if len(used) > slots.total:
                raise Violation(f"{a.agent.id} holds more than its total")
            for medium in set(used):
                if used.count(medium) > slots.per_medium.get(medium, 0):
                    raise Violation(f"{a.agent.id} holds too much {medium}")
                if medium in slots.exclusive and len(used) > 1:
                    raise Violation(f"{a.agent.id} holds an exclusive item and more")

    def waiting_order(self, tenant: str) -> list[str]:
        mine = [it for it in self.items.values() if it.item.tenant == tenant and self.waiting(it)]
        return [it.item.id for it in sorted(mine, key=self.order)]

    def state(self, agent_id: str) -> AgentState:
        a = self.agents.get(agent_id)
        if a is None:
            return AgentState.LOGGED_OUT
        if a.presence is not AgentState.READY:
            return a.presence
        if any(not self.items[i].busy for i in a.held):
            return AgentState.RESERVED
        return AgentState.BUSY if a.held else AgentState.READY

    # -- events (state changes only; decisions come from the router) -----------------------------

    def add(self, item: WorkItem) -> None:
        self.items[item.id] = OItem(item)

    def remove(self, item_id: str) -> None:
        it = self.items.pop(item_id)
        if it.agent is not None:
            self.agents[it.agent].held.pop(item_id)

    def login(self, agent: Agent, ready: bool, holding: tuple[WorkItem, ...] = ()) -> None:
        """``holding``: items she still handles (busy with her from the start)."""
        presence = AgentState.READY if ready else AgentState.NOT_READY
        self.agents[agent.id] = a = OAgent(agent, presence)
        for item in holding:
            self.items[item.id] = OItem(item, agent.id, busy=True)
            a.held[item.id] = item.medium

    def presence(self, agent_id: str, presence: AgentState, wrap_until: float | None = None,
                 reason: AwayReason | None = None) -> None:
        a = self.agents[agent_id]
        a.presence, a.wrap_until, a.reason = presence, wrap_until, reason

    def logout(self, agent_id: str) -> None:
        a = self.agents.pop(agent_id)
        for item_id in a.held:
            it = self.items[item_id]
            if it.busy:
                del self.items[item_id]
            else:
                it.agent = None

    def accept(self, item_id: str) -> None:
        self.items[item_id].busy = True

    def reject(self, item_id: str, missed: bool) -> None:
        """Refused: kept from the agent for the re-offer delay. Missed (any medium): the agent
        is not ready (reason missed_offer) and the item kept from them for the missed delay."""
        it = self.items[item_id]
        assert it.agent is not None
        a = self.agents[it.agent]
        del a.held[item_id]
        if missed:
            self.presence(a.agent.id, AgentState.NOT_READY, reason=AwayReason.MISSED_OFFER)
        delay = self.rules.missed_offer_delay if missed else self.rules.reoffer_delay
        if delay > 0:
            it.excluded[a.agent.id] = self.now + delay
        it.agent = None
        for pair in [p for p in self.kept_since if p[0] == item_id]:
            del self.kept_since[pair]

    def reason(self, agent_id: str) -> AwayReason | None:
        a = self.agents.get(agent_id)
        return None if a is None else a.reason

    def complete(self, item_id: str, wrap: bool | float, away: AwayReason | None = None) -> None:
        it = self.items.pop(item_id)
        assert it.agent is not None
        a = self.agents[it.agent]
        del a.held[item_id]
        if away is not None:
            self.presence(a.agent.id, AgentState.NOT_READY, reason=away)
        elif wrap is not False and wrap != 0 and a.presence is AgentState.READY:
            until = None if wrap is True else self.now + float(wrap)
            self.presence(a.agent.id, AgentState.WRAP_UP, until)

    def replace_item(self, item_id: str, **changes: object) -> None:
        it = self.items[item_id]
        it.item = replace(it.item, **changes)  # type: ignore[arg-type]
