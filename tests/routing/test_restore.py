"""A router restored in bulk decides as one that took the same items one at a time.

:meth:`Router.restore` files the waiting items in bulk (one heap per group made once, the
deadlines heapified once). Against a router whose restore admits each item on its own, the
way every other event does (``_admit``), on random stores: the same offers at the restore,
the same state, the same next deadline, and the same offers for every event after it
(relaxation ticks, work ending, agents coming back).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from ccari.routing import (
    Agent,
    AgentState,
    AwayReason,
    Medium,
    Offer,
    Requirement,
    Router,
    Rules,
    WorkItem,
)
from ccari.routing.matching import Dirt
from ccari.routing.slots import AgentRuntime

from .test_properties import RULES, SLOTS, attributes, requirements

V, C, E = Medium.VOICE, Medium.CHAT, Medium.EMAIL
BLENDING = replace(RULES, tenant_hold_after={"t1": 3.0})


class OneByOne(Router):
    """The reference: each restored item admitted on its own, as :meth:`add_item` does."""

    def _admit_all(self, items: list[WorkItem], now: float, dirt: Dirt,
                   excluded: Mapping[str, Mapping[str, float]]) -> None:
        for item in items:
            self._admit(item, now, dirt)
            apart = excluded.get(item.id)
            if apart:  # as a reject leaves it: kept from those agents until then
                rt = self._items[item.id]
                rt.excluded = {a: until for a, until in apart.items() if until > now} or None
                self._refresh(rt, now, regroup=True)


staff = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t1", "t2"]), attributes, st.sampled_from(SLOTS),
        st.frozensets(st.sampled_from(["p1", "p2"]), max_size=1),
        st.sampled_from([AgentState.READY, AgentState.READY, AgentState.BUSY,
                         AgentState.NOT_READY, AgentState.WRAP_UP, AgentState.LOGGED_OUT]),
        st.lists(st.sampled_from([V, C, E]), max_size=3),
    ),
    min_size=1, max_size=6,
)
items = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t1", "t2"]), st.sampled_from(["default", "default", "vip"]),
        st.sampled_from([V, V, C, E]), requirements, st.integers(0, 2),
        st.sampled_from([0.0, 1.0, 2.5, 3.0, 4.0, 5.5, 9.0]),
        st.sampled_from([None, None, None, -1.0, 0.0, 2.0, 5.0]),
        st.sampled_from([None, None, None, None, 0, 1]),
    ),
    max_size=25,
)


def store(
    staffed: list[tuple[Any, ...]], queued: list[tuple[Any, ...]], now: float
) -> tuple[list[tuple[Agent, AgentState]], list[tuple[WorkItem, str, float]], list[WorkItem]]:
    """Agents with what they hold (within their slots) and waiting items, as a store has."""
    agents, in_progress = [], []
    for n, (tenant, attrs, slots, pools, state, media) in enumerate(staffed):
        agent = Agent(f"a{n}", tenant, "hq", attrs, slots, pools)
        agents.append((agent, state))
        if state is AgentState.LOGGED_OUT:
            continue
        holder = AgentRuntime(agent, AgentState.READY, 0.0)
        for k, medium in enumerate(media):
            if holder.can_take(medium):
                holder.hold(f"b{n}-{k}", medium, offered=False)
                busy = WorkItem(f"b{n}-{k}", tenant, medium, arrived_at=now - 30.0)
                in_progress.append((busy, agent.id, now - 10.0 + k))
    waiting = []
    for n, (tenant, queue, medium, reqs, priority, age, later, reserved) in enumerate(queued):
        keep = reserved is not None and reserved < len(agents)
        waiting.append(WorkItem(
            f"i{n}", tenant, medium, reqs, priority, now - age, queue,
            agents[reserved][0].id if keep else None,  # type: ignore[index]
            None if later is None else now + later,
        ))
    return agents, in_progress, waiting


def replay(router: Router, now: float, seed: int) -> list[tuple[str, list[Offer]]]:
    """The same events after the restore on either router: every deadline reached, work
    answered and ended, not-ready agents ready again, a call arriving."""
    rng = random.Random(seed)
    log: list[tuple[str, list[Offer]]] = []
    for step in range(12):
        snap = router.snapshot()
        roll = rng.random()
        deadline = router.next_deadline()
        if roll < 0.3 and deadline is not None:
            now = max(now, deadline)
            log.append(("tick", router.tick(now)))
        elif roll < 0.5 and snap.offers:
            log.append(("accept", router.accept(snap.offers[0].item_id, now)))
        elif roll < 0.7 and snap.busy:
            item_id = rng.choice(snap.busy)[0]
            log.append(("complete", router.complete(item_id, now, wrap_up=rng.random() < 0.3)))
        elif roll < 0.85:
            away = [a for a, s in snap.agents if s in (AgentState.NOT_READY, AgentState.WRAP_UP)]
            if away:
                log.append(("ready", router.agent_ready(rng.choice(away), now)))
        else:
            call = WorkItem(f"n{step}", rng.choice(["t1", "t2"]), V,
                            (Requirement("skill", "a", min_proficiency=1),), arrived_at=now)
            log.append(("add", router.add_item(call, now)))
        now += rng.choice([0.0, 0.5, 1.0, 3.0])
    return log


# (waiting item, agent, seconds from the restore until it may have it; <= 0: over already)
declines = st.lists(st.tuples(st.integers(0, 24), st.integers(0, 5),
                              st.sampled_from([-1.0, 0.0, 0.5, 3.0, 20.0])), max_size=8)


@settings(max_examples=300, deadline=None)
@given(staffed=staff, queued=items, blending=st.booleans(), shuffle=st.randoms(),
       seed=st.integers(0, 1000), declined=declines)
def test_bulk_restore_decides_as_one_item_at_a_time(
    staffed: list[tuple[Any, ...]], queued: list[tuple[Any, ...]], blending: bool,
    shuffle: random.Random, seed: int, declined: list[tuple[int, int, float]],
) -> None:
    now = 100.0
    rules = BLENDING if blending else RULES
    agents, in_progress, waiting = store(staffed, queued, now)
    excluded: dict[str, dict[str, float]] = {}
    for i, a, after in declined:
        if i < len(waiting) and a < len(agents):
            excluded.setdefault(waiting[i].id, {})[agents[a][0].id] = now + after
    reference = OneByOne(rules)
    expected = reference.restore(now, agents=agents, in_progress=in_progress, waiting=waiting,
                                 excluded=excluded)
    shuffle.shuffle(waiting)  # the store's order does not matter
    bulk = Router(rules)
    assert bulk.restore(now, agents=agents, in_progress=in_progress, waiting=waiting,
                        excluded=excluded) == expected
    assert bulk.snapshot() == reference.snapshot()
    assert bulk.next_deadline() == reference.next_deadline()
    for agent, _ in agents:
        assert bulk.agent_kept_for(agent.id) == reference.agent_kept_for(agent.id)
    assert replay(bulk, now, seed) == replay(reference, now, seed)
    assert bulk.snapshot() == reference.snapshot()


def test_a_restored_not_ready_agent_keeps_why_the_router_made_her_so() -> None:
    """She missed an offer before the rebuild: not ready, reason missed offer, as before;
    the reason of an agent restored in another state is not hers any more."""
    slots = SLOTS[0]
    agents = [(Agent("a1", "t1", "hq", {}, slots), AgentState.NOT_READY),
              (Agent("a2", "t1", "hq", {}, slots), AgentState.READY),
              (Agent("a3", "t1", "hq", {}, slots), AgentState.NOT_READY)]
    router = Router(RULES)
    router.restore(100.0, agents=agents,
                   reasons={"a1": AwayReason.MISSED_OFFER, "a2": AwayReason.MISSED_OFFER})
    assert router.agent_reason("a1") is AwayReason.MISSED_OFFER
    assert router.agent_reason("a2") is None and router.agent_reason("a3") is None
    router.agent_ready("a1", 101.0)  # her own choice clears it
    router.agent_not_ready("a1", 102.0)
    assert router.agent_reason("a1") is None


def test_a_restored_timed_wrap_up_ends_when_it_was_to_end_not_before() -> None:
    """Her wrap-up of 30 s began at 90 (``complete(..., wrap_up=30.0)``); the router is
    rebuilt at 100: the caller waiting meanwhile is not hers before 120, then is at once."""
    call = WorkItem("c1", "t1", V, arrived_at=95.0)
    agent = Agent("a1", "t1", "hq", {}, SLOTS[0])
    router = Router(Rules())
    assert router.restore(100.0, agents=[(agent, AgentState.WRAP_UP)], waiting=[call],
                          wrap_until={"a1": 120.0}) == []
    assert router.agent_state("a1") is AgentState.WRAP_UP
    assert router.agent_wrap_until("a1") == 120.0
    assert router.taking_work("t1") == 0
    assert router.next_deadline() == 120.0
    assert router.tick(119.9) == []
    assert router.agent_state("a1") is AgentState.WRAP_UP
    assert router.tick(120.0) == [Offer("c1", "a1", V)]
    assert router.agent_wrap_until("a1") is None


def test_a_wrap_up_that_ended_before_the_rebuild_is_over_and_an_untimed_one_lasts() -> None:
    """Ended at 95 with the router rebuilt at 100: ready at once. Untimed (until she presses
    ready): no time ends it, her ready does."""
    call = WorkItem("c1", "t1", V, arrived_at=90.0)
    ended, untimed = (Agent(a, "t1", "hq", {}, SLOTS[0]) for a in ("a1", "a2"))
    router = Router(Rules())
    offers = router.restore(100.0, agents=[(ended, AgentState.WRAP_UP)], waiting=[call],
                            wrap_until={"a1": 95.0})
    assert offers == [Offer("c1", "a1", V)] and router.agent_wrap_until("a1") is None

    router = Router(Rules())
    assert router.restore(100.0, agents=[(untimed, AgentState.WRAP_UP)], waiting=[call]) == []
    assert router.tick(10_000.0) == []
    assert router.agent_state("a2") is AgentState.WRAP_UP
    assert router.agent_ready("a2", 10_001.0) == [Offer("c1", "a2", V)]
