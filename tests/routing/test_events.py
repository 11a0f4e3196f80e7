"""Offer life cycle (accept, reject, timeout, abandon), logout, errors, restart."""

from __future__ import annotations

import pytest

from ccari.routing import (
    AgentState,
    AwayReason,
    DuplicateId,
    InvalidTransition,
    Medium,
    Router,
    Rules,
    SlotSpec,
    UnknownAgent,
    UnknownItem,
)

from .helpers import T, agent, item, pairs


def _queue_of_three(rules: Rules | None = None) -> Router:
    router = Router(rules)
    for n in range(3):
        router.add_item(item(f"i{n}", "s", at=float(n)), 3.0)
    return router


def test_timeout_puts_the_item_back_in_front_and_the_agent_not_ready() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.agent_login(agent("B", "s"), 5)
    assert router.snapshot().offers[0].item_id == "i0"
    assert router.reject("i0", 20, missed=True) == []
    assert router.agent_state("A") is AgentState.NOT_READY
    assert router.agent_reason("A") is AwayReason.MISSED_OFFER
    assert [i.id for i in router.waiting(T)] == ["i0", "i1", "i2"]
    assert pairs(router.agent_ready("B", 21)) == [("i0", "B")]


@pytest.mark.parametrize("medium", [Medium.VOICE, Medium.CHAT, Medium.EMAIL, Medium.CALLBACK])
def test_a_missed_offer_of_any_medium_is_not_offered_straight_back(medium: Medium) -> None:
    slots = SlotSpec.blended({Medium.VOICE: 1, Medium.CHAT: 1, Medium.EMAIL: 1,
                              Medium.CALLBACK: 1})
    router = Router(Rules(missed_offer_delay=60.0))
    router.add_item(item("old", "s", medium=medium, at=0.0), 0.0)
    router.add_item(item("call", "s", medium=Medium.VOICE, at=5.0), 5.0)
    assert pairs(router.agent_login(agent("A", "s", slots=slots), 10, ready=True)) == [("old", "A")]
    assert router.reject("old", 40, missed=True) == []
    assert (router.agent_state("A"), router.agent_reason("A")) == (
        AgentState.NOT_READY, AwayReason.MISSED_OFFER)
    # Ready again: the caller who queued meanwhile comes first, not the item just missed.
    assert pairs(router.agent_ready("A", 45)) == [("call", "A")]
    assert router.agent_reason("A") is None
    router.accept("call", 46)
    assert router.complete("call", 90) == []  # still kept from A until 40 + 60
    assert router.next_deadline() == 100.0
    assert pairs(router.tick(100.0)) == [("old", "A")]


def test_the_agents_own_not_ready_has_no_reason() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.reject("i0", 5, missed=True)
    router.agent_not_ready("A", 6)  # chosen now: the page shows no "missed offer" any more
    assert (router.agent_state("A"), router.agent_reason("A")) == (AgentState.NOT_READY, None)


def test_reject_goes_to_another_agent_then_back_after_the_delay() -> None:
    router = _queue_of_three(Rules(reoffer_delay=10.0))
    router.agent_login(agent("A", "s"), 4, ready=True)
    # A stays ready: it gets the next item; i0 is kept from A for 10 s.
    assert pairs(router.reject("i0", 5)) == [("i1", "A")]
    assert router.position("i0") == 1
    router.agent_login(agent("B", "s"), 6)
    assert pairs(router.agent_ready("B", 7)) == [("i0", "B")]
    assert pairs(router.reject("i0", 8)) == [("i2", "B")]  # B declines too, takes i2
    assert router.reject("i1", 9) == []  # i0 and i1 are both kept from A for now
    assert router.next_deadline() == 15.0  # A may have i0 again
    assert pairs(router.tick(15.0)) == [("i0", "A")]


def test_reject_without_delay_reoffers_the_same_item() -> None:
    router = _queue_of_three(Rules(reoffer_delay=0.0))
    router.agent_login(agent("A", "s"), 4, ready=True)
    assert pairs(router.reject("i0", 5)) == [("i0", "A")]


def test_abandon_frees_the_reserved_agent() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    assert pairs(router.remove_item("i0", 5)) == [("i1", "A")]
    assert pairs(router.remove_item("i1", 6)) == [("i2", "A")]
    router.accept("i2", 7)
    assert router.remove_item("i2", 8) == []  # hung up while talking
    assert router.agent_state("A") is AgentState.READY


def test_logout_returns_offers_and_drops_work_in_progress() -> None:
    router = Router()
    chats = agent("A", "s", slots=SlotSpec({Medium.CHAT: 2}, 2))
    router.agent_login(chats, 0, ready=True)
    router.add_item(item("c1", "s", medium=Medium.CHAT, at=1), 1)
    router.add_item(item("c2", "s", medium=Medium.CHAT, at=2), 2)
    router.accept("c1", 3)
    router.agent_login(agent("B", "s", slots=chats.slots), 4)
    router.agent_logout("A", 5)
    assert [i.id for i in router.waiting(T)] == ["c2"]
    with pytest.raises(UnknownItem):
        router.complete("c1", 6)
    assert pairs(router.agent_ready("B", 7)) == [("c2", "B")]


def test_an_agent_logging_in_again_holds_the_work_she_still_handles() -> None:
    router = Router()
    chats = agent("A", "s", slots=SlotSpec({Medium.CHAT: 2}, 2))
    router.agent_login(chats, 0, ready=True)
    router.add_item(item("c1", "s", medium=Medium.CHAT, at=1), 1)
    router.accept("c1", 2)
    router.agent_logout("A", 3)
    for n in (2, 3):
        router.add_item(item(f"c{n}", "s", medium=Medium.CHAT, at=3 + n), 3 + n)
    c1 = item("c1", "s", medium=Medium.CHAT, at=1)
    # One slot of two is left: only the older of the two waiting chats is offered.
    assert pairs(router.agent_login(chats, 10, ready=True, holding=[(c1, 2.0)])) == [("c2", "A")]
    assert router.agent_state("A") is AgentState.RESERVED
    assert pairs(router.complete("c1", 11)) == [("c3", "A")]
    with pytest.raises(DuplicateId):  # c2 is A's
        router.agent_login(agent("B", "s", slots=chats.slots), 12,
                           holding=[(item("c2", "s", medium=Medium.CHAT, at=5), 11.0)])
    assert router.agent_state("B") is AgentState.LOGGED_OUT


def test_timed_wrap_up() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.accept("i0", 5)
    assert router.complete("i0", 65, wrap_up=15.0) == []
    assert router.agent_state("A") is AgentState.WRAP_UP
    assert router.next_deadline() == 80.0
    assert pairs(router.tick(80.0)) == [("i1", "A")]


def test_an_item_completed_without_the_agent_leaves_her_away_until_she_is_ready() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.accept("i0", 5)
    assert router.complete("i0", 65, wrap_up=15.0, away=AwayReason.CALL_LOST) == []
    assert router.agent_state("A") is AgentState.NOT_READY
    assert router.agent_reason("A") is AwayReason.CALL_LOST
    assert router.tick(200.0) == []  # no wrap-up end makes her ready
    assert pairs(router.agent_ready("A", 201)) == [("i1", "A")]
    assert router.agent_reason("A") is None


def test_not_ready_during_a_call_wins_over_wrap_up() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.accept("i0", 5)
    router.agent_not_ready("A", 10)
    assert router.complete("i0", 65, wrap_up=15.0) == []
    assert router.agent_state("A") is AgentState.NOT_READY
    assert router.next_deadline() is None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda r: r.accept("nope", 9), UnknownItem),
        (lambda r: r.accept("i1", 9), InvalidTransition),
        (lambda r: r.complete("i0", 9), InvalidTransition),
        (lambda r: r.reject("i1", 9), InvalidTransition),
        (lambda r: r.add_item(item("i1"), 9), DuplicateId),
        (lambda r: r.agent_login(agent("A"), 9), DuplicateId),
        (lambda r: r.agent_ready("Z", 9), UnknownAgent),
        (lambda r: r.complete("i0", 9, wrap_up=-1.0), InvalidTransition),  # not busy
    ],
)
def test_refused_events_change_nothing(call: object, error: type[Exception]) -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    before = router.snapshot()
    with pytest.raises(error) as caught:
        call(router)  # type: ignore[operator]
    assert router.snapshot() == before
    assert getattr(caught.value, "error_id", "").startswith("routing-")


def test_bad_wrap_up_is_refused() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)
    router.accept("i0", 5)
    with pytest.raises(ValueError):
        router.complete("i0", 6, wrap_up=-1.0)


def _history() -> tuple[Router, list[tuple[str, str, float, int]]]:
    items = [("i0", "s", 10.0, 0), ("i1", "t", 9.0, 0), ("i2", "s", 8.0, 2), ("i3", "t", 7.0, 1),
             ("i4", "s", 6.0, 0), ("i5", "t", 5.0, 0)]
    router = Router()
    router.agent_login(agent("A", "s"), 0)
    router.agent_login(agent("B", "s", "t"), 0)
    for item_id, skill, at, prio in items:
        router.add_item(item(item_id, skill, at=at, priority=prio), 11.0)
    assert pairs(router.agent_ready("A", 12.0)) == [("i2", "A")]
    assert pairs(router.agent_ready("B", 12.0)) == [("i3", "B")]
    return router, items


def _same_future(before: Router, after: Router) -> None:
    """Both routers take the same decisions from here on."""
    for step in range(6):
        now = 20.0 + step
        for router_offers in [[(r, r.snapshot().offers) for r in (before, after)]]:
            (_, a), (_, b) = router_offers
            assert a == b
            for router, offers in router_offers:
                for offer in offers:
                    router.accept(offer.item_id, now)
        busy = before.snapshot().busy
        if busy:
            item_id = busy[0][0]
            assert pairs(before.complete(item_id, now + 0.5)) == pairs(
                after.complete(item_id, now + 0.5)
            )
        assert before.snapshot() == after.snapshot()


def test_restart_restores_the_same_order_and_decisions() -> None:
    before, items = _history()
    for offer in before.snapshot().offers:
        before.accept(offer.item_id, 12.0)
    snap = before.snapshot()
    assert snap.busy == (("i2", "A"), ("i3", "B"))
    by_id = {i[0]: item(i[0], i[1], at=i[2], priority=i[3]) for i in items}
    after = Router()
    offers = after.restore(
        13.0,
        agents=[(agent("B", "s", "t"), AgentState.BUSY), (agent("A", "s"), AgentState.BUSY)],
        in_progress=[(by_id["i2"], "A", 12.0), (by_id["i3"], "B", 12.0)],
        waiting=[by_id[k] for k in ("i1", "i0", "i4", "i5")],  # any order
    )
    assert offers == []
    assert after.snapshot() == snap
    assert [i.id for i in after.waiting(T)] == ["i5", "i4", "i1", "i0"]
    _same_future(before, after)


def test_pending_offers_return_to_their_place_on_restart() -> None:
    before, items = _history()
    # i2 and i3 were offered, not yet answered, when ccari restarted.
    by_id = {i[0]: item(i[0], i[1], at=i[2], priority=i[3]) for i in items}
    after = Router()
    offers = after.restore(
        13.0,
        agents=[(agent("A", "s"), AgentState.RESERVED), (agent("B", "s", "t"), AgentState.READY)],
        waiting=list(by_id.values()),
    )
    # The best items go to the best agents again.
    assert sorted(pairs(offers)) == sorted(pairs(list(before.snapshot().offers)))


def test_a_rebuild_keeps_the_offers_still_pending() -> None:
    before, items = _history()
    assert (before.offered_to("i2"), before.offered_to("i3")) == ("A", "B")
    by_id = {i[0]: item(i[0], i[1], at=i[2], priority=i[3]) for i in items}
    after = Router()
    offers = after.restore(
        13.0,
        agents=[(agent("B", "s", "t"), AgentState.RESERVED), (agent("A", "s"), AgentState.READY)],
        offered=[(by_id["i3"], "B"), (by_id["i2"], "A")],
        waiting=[by_id[k] for k in ("i1", "i0", "i4", "i5")],
    )
    assert offers == []  # both agents hold their offer: nothing new
    assert after.snapshot() == before.snapshot()
    assert (after.offered_to("i2"), after.offered_to("i3"), after.offered_to("i0")) == (
        "A", "B", None)
    assert after.agent_state("A") == AgentState.RESERVED
    _same_future(before, after)


def test_a_kept_offer_refused_after_a_rebuild_goes_to_the_next_agent() -> None:
    before, items = _history()
    by_id = {i[0]: item(i[0], i[1], at=i[2], priority=i[3]) for i in items}
    after = Router()
    after.restore(13.0, agents=[(agent("A", "s"), AgentState.READY),
                                (agent("B", "s", "t"), AgentState.READY)],
                  offered=[(by_id["i2"], "A"), (by_id["i3"], "B")],
                  waiting=[by_id[k] for k in ("i1", "i0", "i4", "i5")])
    assert pairs(after.reject("i2", 14.0)) == [("i4", "A")]  # i2 kept from A a while
    assert pairs(before.reject("i2", 14.0)) == [("i4", "A")]
    assert after.snapshot() == before.snapshot()
    assert after.offered_to("i2") is None


def test_a_rebuild_keeps_a_refused_item_from_its_agent_until_the_delay_ends() -> None:
    """A's refusal of i0 at 5 (reoffer delay 10 s) is known to the rebuilt router: i0 goes
    to B, and to A only once the 10 s are over, as in the router that saw the refusal."""
    rules = Rules(reoffer_delay=10.0)
    before = _queue_of_three(rules)
    before.agent_login(agent("A", "s"), 4, ready=True)
    assert pairs(before.reject("i0", 5)) == [("i1", "A")]
    after = Router(rules)
    items = {f"i{n}": item(f"i{n}", "s", at=float(n)) for n in range(3)}
    offers = after.restore(6.0, agents=[(agent("A", "s"), AgentState.RESERVED)],
                           offered=[(items["i1"], "A")], waiting=[items["i0"], items["i2"]],
                           excluded={"i0": {"A": 15.0}, "i2": {"A": 5.5}})  # (i2's is over)
    assert offers == [] and after.snapshot() == before.snapshot()
    for router in (before, after):
        assert pairs(router.agent_login(agent("B", "s"), 7, ready=True)) == [("i0", "B")]
        assert router.accept("i1", 7) == []
        assert pairs(router.reject("i0", 8)) == [("i2", "B")]
        assert router.complete("i1", 9) == []  # A is free, i0 still kept from her
        assert router.next_deadline() == 15.0
        assert pairs(router.tick(15.0)) == [("i0", "A")]


@pytest.mark.parametrize(
    ("agents", "offered", "waiting", "error"),
    [
        ([agent("A")], [(item("x"), "B")], [], InvalidTransition),
        ([agent("A")], [(item("x"), "A")], [item("x")], DuplicateId),
    ],
)
def test_restore_refuses_offers_it_cannot_keep(
    agents: list, offered: list, waiting: list, error: type[Exception]  # type: ignore[type-arg]
) -> None:
    router = Router()
    with pytest.raises(error):
        router.restore(0.0, agents=[(a, AgentState.READY) for a in agents], offered=offered,
                       waiting=waiting)
    assert router.snapshot() == Router().snapshot()


@pytest.mark.parametrize(
    ("agents", "in_progress", "waiting", "error"),
    [
        ([agent("A")], [(item("x"), "B", 0.0)], [], InvalidTransition),
        ([agent("A"), agent("A")], [], [], DuplicateId),
        ([agent("A")], [(item("x"), "A", 0.0)], [item("x")], DuplicateId),
    ],
)
def test_restore_refuses_inconsistent_input(
    agents: list, in_progress: list, waiting: list, error: type[Exception]  # type: ignore[type-arg]
) -> None:
    router = Router()
    with pytest.raises(error):
        router.restore(
            0.0, agents=[(a, AgentState.READY) for a in agents], in_progress=in_progress,
            waiting=waiting,
        )
    assert router.snapshot() == Router().snapshot()
    router.restore(0.0, agents=[(agent("A"), AgentState.READY)], waiting=[item("y")])
    assert router.snapshot().offers[0].item_id == "y"
    with pytest.raises(InvalidTransition):
        router.restore(0.0, agents=[])


def test_an_agent_cannot_change_tenant_while_logged_in() -> None:
    router = Router()
    router.agent_login(agent("A"), 0.0)
    with pytest.raises(InvalidTransition):
        router.agent_update(agent("A", tenant="other"), 1.0)


def test_taking_work_counts_ready_reserved_and_busy_agents_of_the_tenant_only() -> None:
    router = _queue_of_three()
    router.agent_login(agent("A", "s"), 4, ready=True)  # offered i0: reserved
    router.agent_login(agent("B", "s"), 4, ready=True)  # offered i1, then accepts: busy
    router.accept("i1", 5)
    router.agent_login(agent("C", "s"), 4)  # not ready
    router.agent_login(agent("D", "s"), 4, ready=True)  # offered i2, accepts, wraps up
    router.accept("i2", 5)
    router.complete("i2", 6, wrap_up=30.0)
    router.agent_login(agent("E", "x"), 4, ready=True)  # nothing for it: ready
    router.agent_login(agent("F", "s", tenant="other"), 4, ready=True)
    states = {a: router.agent_state(a) for a in "ABCDEF"}
    assert states == {"A": AgentState.RESERVED, "B": AgentState.BUSY, "C": AgentState.NOT_READY,
                      "D": AgentState.WRAP_UP, "E": AgentState.READY, "F": AgentState.READY}
    assert router.taking_work(T) == 3  # A, B, E
    assert router.taking_work("other") == 1
    assert router.taking_work("nobody") == 0


@pytest.mark.parametrize(("meanwhile", "after"), [
    (None, AgentState.RESERVED),  # released: the waiting call comes to her at once
    ("not_ready", AgentState.NOT_READY),  # her own choice during the call stands
    ("ready", AgentState.READY),
])
def test_an_engaged_agent_gets_no_offer_until_released(meanwhile: str | None,
                                                       after: AgentState) -> None:
    router = Router()
    router.agent_login(agent("A", "s"), 0, ready=True)
    assert router.agent_engaged("A", 1) == []
    assert (router.agent_state("A"), router.agent_reason("A")) == (
        AgentState.NOT_READY, AwayReason.IN_CALL)
    assert router.add_item(item("call", "s", at=2.0), 2.0) == []  # not offered to her
    if meanwhile == "not_ready":
        router.agent_not_ready("A", 3)
    elif meanwhile == "ready":
        assert pairs(router.agent_ready("A", 3)) == [("call", "A")]
        router.reject("call", 4)
    offers = router.agent_disengaged("A", 5)
    assert router.agent_state("A") is after
    assert pairs(offers) == ([("call", "A")] if meanwhile is None else [])
    assert router.agent_reason("A") is None
