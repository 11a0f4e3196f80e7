"""Routing invariants, checked on random event sequences (hypothesis state machine).

After every event, against the naive model in :mod:`.oracle`:

* never an offer to an agent lacking a required attribute (at the item's relaxation level),
  of another tenant, outside the item's pools or reservation;
* never more than a slot capacity (per medium, total, exclusive media);
* strict priority-then-age order among the items eligible for the offered agent;
* no waiting item is eligible for an agent with a free slot once the event is settled (so no
  item waits past its last relaxation step while an eligible agent sits idle);
* a waiting item is offered within a bounded time (the longest re-offer delay) while an agent
  who may take it is ready with room: a refused or missed offer keeps it from that agent only
  for a while;
* a missed offer (any medium) makes the agent not ready with the reason ``missed_offer``;
* the router's queue order, agent states and not-ready reasons are the model's;
* every agent whose state changed is among the agents the router says it touched;

and at the end: the same event sequence replayed on a new router yields the same decisions, and
a router restored from the store's view has the same queue order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ccari.routing import (
    Agent,
    AgentState,
    AwayReason,
    Medium,
    Offer,
    QueueRule,
    RelaxationStep,
    Requirement,
    Router,
    Rules,
    SlotSpec,
    Strategy,
    WorkItem,
)

from .oracle import Oracle

TENANTS = ("t1", "t2")
tenants = st.sampled_from(["t1", "t1", "t1", "t2"])
V, C, E = Medium.VOICE, Medium.CHAT, Medium.EMAIL
SLOTS = (
    SlotSpec.voice(),
    SlotSpec({C: 2, E: 1}, 2),
    SlotSpec.blended({V: 1, C: 2}),
    SlotSpec({C: 3, E: 2}, 4),
)
RULES = Rules(
    queues={
        ("t1", "vip"): QueueRule(
            pools=frozenset({"p1"}),
            steps=(RelaxationStep(4, add_pools=frozenset({"p2"})),),
            strategy=Strategy.LEAST_BUSY,
        ),
    },
    default=QueueRule(
        steps=(
            RelaxationStep(3, min_proficiency=1),
            RelaxationStep(6, relax=frozenset({"lang"}), release_reservation=True),
        )
    ),
    reoffer_delay=2.0,
    missed_offer_delay=5.0,
)

attribute_keys = st.sampled_from([("skill", "a"), ("skill", "b"), ("lang", "fr")])
attributes = st.dictionaries(attribute_keys, st.sampled_from([0, 1, 2, 4, 4]), min_size=2)
requirements = st.lists(
    st.builds(
        lambda key, required, floor, weight: Requirement(key[0], key[1], required, floor, weight),
        attribute_keys,
        st.sampled_from([True, True, False]),
        st.sampled_from([0, 0, 0, 1, 3]),
        st.sampled_from([0.5, 1.0, 2.0]),
    ),
    max_size=2,
    unique_by=lambda r: (r.name, r.value),
).map(tuple)


class RoutingMachine(RuleBasedStateMachine):
    routing_rules = RULES

    def __init__(self) -> None:
        super().__init__()
        self.router = Router(self.routing_rules)
        self.router.few = 0  # every placement walks the free index's order (by profile
        self.router.profile_ratio = 0  # when the item scores skills)...
        self.scanning = Router(self.routing_rules)
        self.scanning.few = 1 << 30  # ...and here ranks every candidate: the same offers
        self.oracle = Oracle(self.routing_rules)
        self.now = 0.0
        self.log: list[tuple[str, tuple[Any, ...], dict[str, Any], list[Offer]]] = []
        self.agent_specs: dict[str, Agent] = {}
        self.counter = 0
        self.states_seen: dict[str, AgentState] = {}

    def _do(self, name: str, *args: Any, **kwargs: Any) -> list[Offer]:
        offers: list[Offer] = getattr(self.router, name)(*args, **kwargs)
        assert getattr(self.scanning, name)(*args, **kwargs) == offers, name
        self.log.append((name, args, kwargs, offers))
        self.oracle.apply_offers(offers)
        return offers

    def _pick(self, data: st.DataObject, choices: list[str]) -> str:
        return data.draw(st.sampled_from(sorted(choices)))

    @initialize(
        staff=st.lists(
            st.tuples(tenants, attributes, st.sampled_from(SLOTS), st.frozensets(st.just("p1"))),
            min_size=1, max_size=4,
        )
    )
    def start(self, staff: list[tuple[str, dict[tuple[str, str], int], SlotSpec, Any]]) -> None:
        self.oracle.at(self.now)
        for number, (tenant, attrs, slots, pools) in enumerate(staff):
            self.login(number, tenant, attrs, slots, pools, True)

    # -- time ----------------------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.0]))
    def tick(self, dt: float) -> None:
        self.now += dt
        self.oracle.at(self.now)
        self._do("tick", self.now)

    @rule()
    def tick_at_next_deadline(self) -> None:
        deadline = self.router.next_deadline()
        if deadline is not None and deadline > self.now:
            self.now = deadline
            self.oracle.at(self.now)
            assert self._do("tick", self.now) is not None

    # -- items ---------------------------------------------------------------------------------

    @rule(
        tenant=tenants, queue=st.sampled_from(["default", "default", "vip"]),
        medium=st.sampled_from([V, C, E]), reqs=requirements, priority=st.integers(0, 2),
        age=st.sampled_from([0.0, 0.0, 1.0, 5.0]), data=st.data(),
        later=st.sampled_from([None, None, None, 2.0, 5.0]), copies=st.integers(1, 3),
    )
    def add_items(
        self, tenant: str, queue: str, medium: Medium, reqs: tuple[Requirement, ...],
        priority: int, age: float, data: st.DataObject, later: float | None, copies: int,
    ) -> None:
        reserved = None
        if self.agent_specs and data.draw(st.integers(0, 4)) == 0:
            reserved = self._pick(data, list(self.agent_specs))
        for _ in range(copies):
            self.counter += 1
            item = WorkItem(
                f"i{self.counter}", tenant, medium, reqs, priority, self.now - age, queue,
                reserved, None if later is None else self.now + later,
            )
            self.oracle.add(item)
            self._do("add_item", item, self.now)

    def _items(self, *, offered: bool | None = None, busy: bool | None = None) -> list[str]:
        return [
            i for i, it in self.oracle.items.items()
            if (offered is None or (it.agent is not None and not it.busy) == offered)
            and (busy is None or it.busy == busy)
        ]

    @precondition(lambda self: self.oracle.items)
    @rule(data=st.data())
    def remove_item(self, data: st.DataObject) -> None:
        item_id = self._pick(data, list(self.oracle.items))
        self.oracle.remove(item_id)
        self._do("remove_item", item_id, self.now)

    @precondition(lambda self: self._items(offered=True))
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        item_id = self._pick(data, self._items(offered=True))
        self.oracle.accept(item_id)
        self._do("accept", item_id, self.now)

    @precondition(lambda self: self._items(offered=True))
    @rule(data=st.data(), missed=st.booleans())
    def reject(self, data: st.DataObject, missed: bool) -> None:
        item_id = self._pick(data, self._items(offered=True))
        self.oracle.reject(item_id, missed)
        self._do("reject", item_id, self.now, missed=missed)

    @precondition(lambda self: self._items(offered=True))
    @rule(data=st.data())
    def miss_then_ready_again(self, data: st.DataObject) -> None:
        """An offer lapses and the agent presses Ready straight away."""
        item_id = self._pick(data, self._items(offered=True))
        agent_id = self.oracle.items[item_id].agent
        assert agent_id is not None
        self.oracle.reject(item_id, True)
        self._do("reject", item_id, self.now, missed=True)
        self.oracle.presence(agent_id, AgentState.READY)
        self._do("agent_ready", agent_id, self.now)

    @precondition(lambda self: self._items(busy=True))
    @rule(data=st.data(), wrap=st.sampled_from([False, False, True, 0.0, 2.0]),
          away=st.sampled_from([None, None, None, AwayReason.CALL_LOST]))
    def complete(self, data: st.DataObject, wrap: bool | float, away: AwayReason | None) -> None:
        item_id = self._pick(data, self._items(busy=True))
        self.oracle.complete(item_id, wrap, away)
        self._do("complete", item_id, self.now, wrap_up=wrap, away=away)

    @precondition(lambda self: self._items(busy=True))
    @rule(data=st.data(), ready=st.booleans())
    def log_out_and_back_holding(self, data: st.DataObject, ready: bool) -> None:
        """She logs out while handling work, and in again still handling it."""
        item_id = self._pick(data, self._items(busy=True))
        agent_id = self.oracle.items[item_id].agent
        assert agent_id is not None
        held = tuple(self.oracle.items[i].item for i in sorted(self.oracle.agents[agent_id].held)
                     if self.oracle.items[i].busy)
        self.oracle.logout(agent_id)
        self._do("agent_logout", agent_id, self.now)
        agent = self.agent_specs[agent_id]
        self.oracle.login(agent, ready, held)
        self._do("agent_login", agent, self.now, ready=ready,
                 holding=[(item, self.now) for item in held])

    @precondition(lambda self: self._items(offered=True) or self._items(busy=True))
    @rule(data=st.data())
    def answer_all_then_finish_one(self, data: st.DataObject) -> None:
        for item_id in sorted(self._items(offered=True)):
            if item_id in self.oracle.items and self.oracle.items[item_id].agent is not None:
                self.oracle.accept(item_id)
                self._do("accept", item_id, self.now)
        item_id = self._pick(data, self._items(busy=True))
        self.oracle.complete(item_id, False)
        self._do("complete", item_id, self.now)

    @precondition(lambda self: self._items(offered=False, busy=False))
    @rule(data=st.data(), priority=st.integers(0, 3), later=st.sampled_from([None, 0.0, 3.0]))
    def supervise(self, data: st.DataObject, priority: int, later: float | None) -> None:
        item_id = self._pick(data, self._items(offered=False, busy=False))
        self.oracle.replace_item(item_id, priority=priority)
        self._do("update_priority", item_id, priority, self.now)
        not_before = None if later is None else self.now + later
        self.oracle.replace_item(item_id, not_before=not_before)
        self._do("reschedule", item_id, not_before, self.now)

    # -- agents --------------------------------------------------------------------------------

    @rule(
        number=st.integers(0, 5), tenant=tenants, attrs=attributes,
        slots=st.sampled_from(SLOTS), pools=st.frozensets(st.sampled_from(["p1", "p2"])),
        ready=st.sampled_from([True, True, False]),
    )
    def login(
        self, number: int, tenant: str, attrs: dict[tuple[str, str], int], slots: SlotSpec,
        pools: frozenset[str], ready: bool,
    ) -> None:
        agent_id = f"a{number}"
        if agent_id in self.oracle.agents:
            return
        agent = Agent(agent_id, tenant, "hq", attrs, slots, pools)
        self.agent_specs[agent_id] = agent
        self.oracle.login(agent, ready)
        self._do("agent_login", agent, self.now, ready=ready)

    @precondition(lambda self: self.oracle.agents)
    @rule(data=st.data(), action=st.sampled_from(["ready", "ready", "not_ready", "logout"]))
    def agent_presence(self, data: st.DataObject, action: str) -> None:
        agent_id = self._pick(data, list(self.oracle.agents))
        if action == "ready":
            self.oracle.presence(agent_id, AgentState.READY)
            self._do("agent_ready", agent_id, self.now)
        elif action == "not_ready":
            self.oracle.presence(agent_id, AgentState.NOT_READY)
            self._do("agent_not_ready", agent_id, self.now)
        else:
            self.oracle.logout(agent_id)
            self._do("agent_logout", agent_id, self.now)

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def settled_and_within_capacity(self) -> None:
        self.oracle.check_settled()
        self.oracle.check_capacity()

    @invariant()
    def offered_within_a_bounded_time(self) -> None:
        self.oracle.check_offered_in_time()

    @invariant()
    def same_view_as_the_model(self) -> None:
        for tenant in TENANTS:
            got = [i.id for i in self.router.waiting(tenant)]
            assert got == self.oracle.waiting_order(tenant)
        for agent_id in self.agent_specs:
            assert self.router.agent_state(agent_id) is self.oracle.state(agent_id)
            assert self.router.agent_reason(agent_id) is self.oracle.reason(agent_id)
        taking = {AgentState.READY, AgentState.RESERVED, AgentState.BUSY}
        for tenant in TENANTS:  # A of the trunk rule, as admission reads it
            assert self.router.taking_work(tenant) == sum(
                1 for a, spec in self.agent_specs.items()
                if spec.tenant == tenant and self.oracle.state(a) in taking)

    @invariant()
    def every_state_change_is_among_the_touched_agents(self) -> None:
        # What the agent state log and the pages read instead of every agent's state.
        touched = self.router.touched_agents()
        for agent_id in self.agent_specs:
            state = self.router.agent_state(agent_id)
            if state is not self.states_seen.get(agent_id, AgentState.LOGGED_OUT):
                assert agent_id in touched, (agent_id, self.states_seen.get(agent_id), state)
            self.states_seen[agent_id] = state

    @rule()
    def predictions_are_sane(self) -> None:
        for tenant in TENANTS:
            predictions = self.router.predicted_waits(tenant, self.now)
            waiting = set(self.oracle.waiting_order(tenant))
            for item_id, prediction in predictions.items():
                assert prediction.wait >= 0  # also not NaN
                assert prediction.position >= 1
                assert prediction.available_agents <= prediction.eligible_agents
                if item_id in waiting:
                    assert self.router.position(item_id) == prediction.position
            for item_id in sorted(predictions)[:1]:
                assert self.router.predicted_wait(item_id, self.now) == predictions[item_id]

    def teardown(self) -> None:
        self._replay_gives_the_same_decisions()
        self._restore_keeps_the_order()

    def _replay_gives_the_same_decisions(self) -> None:
        again = Router(self.routing_rules)
        for name, args, kwargs, offers in self.log:
            assert getattr(again, name)(*args, **kwargs) == offers, name
        assert again.snapshot() == self.router.snapshot()

    def _restore_keeps_the_order(self) -> None:
        snap = self.router.snapshot()
        states = dict(snap.agents)
        items = self.oracle.items
        restored = Router(self.routing_rules)
        restored.restore(
            self.now,
            agents=[(self.agent_specs[a], states[a]) for a in reversed(sorted(states))],
            in_progress=[(items[i].item, a, 0.0) for i, a in snap.busy],
            waiting=[it.item for it in items.values() if not it.busy],
        )
        for tenant in TENANTS:
            before = [i.id for i in self.router.waiting(tenant)]
            after = [i.id for i in restored.waiting(tenant)]
            assert [i for i in after if i in before] == [i for i in before if i in after]


RoutingMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_routing_invariants = RoutingMachine.TestCase


class BlendingMachine(RoutingMachine):
    """The same events and invariants with fair blending on for t1 (t2 off), plus: while a
    voice item that waited the hold is waiting, no blended agent eligible for it takes new
    work of other media, so it waits at most the hold plus the time that agent's work then
    takes to end (see ``Oracle.check_held_back``); and the hold changes at run time."""

    routing_rules = replace(RULES, tenant_hold_after={"t1": 3.0})

    @invariant()
    def held_back_for_overdue_calls(self) -> None:
        self.oracle.check_held_back()
        for agent_id in self.agent_specs:
            a = self.oracle.agents.get(agent_id)
            expected = () if a is None else tuple(self.oracle.held_back_for(a))
            assert self.router.agent_kept_for(agent_id) == expected

    @rule(number=st.integers(0, 5), attrs=attributes)
    def blended_login(self, number: int, attrs: dict[tuple[str, str], int]) -> None:
        self.login(number, "t1", attrs, SlotSpec.blended({V: 1, C: 2}), frozenset(), True)

    @rule(age=st.sampled_from([0.0, 3.0, 5.0]), chats=st.integers(1, 3))
    def call_among_chats(self, age: float, chats: int) -> None:
        """A call (perhaps waiting the hold already) and chats behind it, for anyone."""
        for medium, n in ((V, 1), (C, chats)):
            for _ in range(n):
                self.counter += 1
                item = WorkItem(f"i{self.counter}", "t1", medium, arrived_at=self.now - age)
                self.oracle.add(item)
                self._do("add_item", item, self.now)
            age = 0.0

    def _held_pairs(self) -> list[tuple[str, str]]:
        o = self.oracle
        return sorted(
            (it.item.id, a.agent.id) for it in o.items.values() if o.overdue(it)
            for a in o.agents.values()
            if a.presence is AgentState.READY and o.blends_for(it, a) and o.qualifies(it, a))

    @precondition(lambda self: self._held_pairs())
    @rule(data=st.data())
    def held_agent_finishes_her_work(self, data: st.DataObject) -> None:
        """The bound itself: an overdue call, a ready agent held back for it; her work at that
        moment is answered and ended (no wrap-up); then the call is no longer waiting, or she
        was offered a call ahead of it."""
        item_id, agent_id = data.draw(st.sampled_from(self._held_pairs()))
        agent = self.oracle.agents[agent_id]
        for held in sorted(agent.held):
            if not self.oracle.items[held].busy:
                self.oracle.accept(held)
                self._do("accept", held, self.now)
            self.oracle.complete(held, False)
            self._do("complete", held, self.now)
        it = self.oracle.items.get(item_id)
        if it is not None and self.oracle.waiting(it):
            ahead = [i for i in agent.held
                     if self.oracle.order(self.oracle.items[i]) < self.oracle.order(it)]
            assert ahead and all(self.oracle.items[i].item.medium is V for i in ahead), (
                f"{item_id} still waits though {agent_id} finished her work")

    @rule(tenant=st.sampled_from(TENANTS), seconds=st.sampled_from([0.0, 1.0, 3.0, 8.0]))
    def set_hold(self, tenant: str, seconds: float) -> None:
        holds = {**self.oracle.rules.tenant_hold_after, tenant: seconds}
        self.oracle.rules = replace(self.oracle.rules, tenant_hold_after=holds)
        self._do("set_hold_after", tenant, seconds, self.now)


BlendingMachine.TestCase.settings = RoutingMachine.TestCase.settings
test_blending_invariants = BlendingMachine.TestCase
