"""Relaxation over time, overflow to other pools, reservations, scheduled items."""

from __future__ import annotations

import pytest

from ccari.routing import QueueRule, RelaxationStep, Requirement, Router, Rules, WorkItem

from .helpers import T, agent, item, pairs

SALES4 = Requirement("skill", "sales", min_proficiency=4)
FR = Requirement("lang", "fr")

LADDER = Rules(
    queues={
        (T, "sales"): QueueRule(
            pools=frozenset({"front"}),
            steps=(
                RelaxationStep(30, min_proficiency=2),
                RelaxationStep(60, relax=frozenset({"lang"})),
                RelaxationStep(120, add_pools=frozenset({"backoffice"})),
            ),
        ),
        (T, "callbacks"): QueueRule(steps=(RelaxationStep(45, release_reservation=True),)),
    }
)


def _sales(item_id: str, *reqs: Requirement, at: float = 0.0) -> WorkItem:
    return item(item_id, *reqs, at=at, queue="sales")


# (case, agent, item requirements, seconds until the first offer, None: never within 300 s)
LADDER_CASES = [
    ("qualified agent at once", agent("A", ("sales", 5), pools=frozenset({"front"})),
     [SALES4], 0.0),
    ("proficiency 2 accepted after 30 s", agent("A", ("sales", 2), pools=frozenset({"front"})),
     [SALES4], 30.0),
    ("proficiency 1 never", agent("A", ("sales", 1), pools=frozenset({"front"})), [SALES4], None),
    ("language relaxed after 60 s", agent("A", ("sales", 5), pools=frozenset({"front"})),
     [SALES4, FR], 60.0),
    ("overflow pool after 120 s", agent("A", ("sales", 5), pools=frozenset({"backoffice"})),
     [SALES4], 120.0),
    ("other pools never", agent("A", ("sales", 5), pools=frozenset({"elsewhere"})),
     [SALES4], None),
    ("all steps combine", agent("A", ("sales", 3), pools=frozenset({"backoffice"})),
     [SALES4, FR], 120.0),
]


@pytest.mark.parametrize(
    ("who", "reqs", "expected"), [c[1:] for c in LADDER_CASES], ids=[c[0] for c in LADDER_CASES]
)
def test_relaxation_ladder(who: object, reqs: list[Requirement], expected: float | None) -> None:
    router = Router(LADDER)
    router.agent_login(who, 0, ready=True)  # type: ignore[arg-type]
    offers = router.add_item(_sales("i1", *reqs, at=100.0), 100.0)
    when = 100.0 if offers else None
    while when is None:
        deadline = router.next_deadline()
        if deadline is None or deadline > 400.0:
            break
        if router.tick(deadline):
            when = deadline
    assert (None if when is None else when - 100.0) == expected


def test_relaxation_applies_even_without_tick() -> None:
    router = Router(LADDER)
    router.add_item(_sales("i1", SALES4, at=0.0), 0.0)
    router.agent_login(agent("A", ("sales", 2), pools=frozenset({"front"})), 10.0)
    # The next event (at 35 s) sees the item relaxed, whoever calls it.
    assert pairs(router.agent_ready("A", 35.0)) == [("i1", "A")]


def test_items_reloaded_after_a_restart_start_at_their_level() -> None:
    router = Router(LADDER)
    router.agent_login(agent("A", ("sales", 2), pools=frozenset({"front"})), 500.0, ready=True)
    assert pairs(router.add_item(_sales("old", SALES4, at=460.0), 500.0)) == [("old", "A")]


def test_released_reservation() -> None:
    router = Router(LADDER)
    router.agent_login(agent("A"), 0, ready=True)
    cb = item("cb", at=0.0, queue="callbacks", reserved_agent="B")
    assert router.add_item(cb, 0.0) == []
    assert router.next_deadline() == 45.0
    assert pairs(router.tick(45.0)) == [("cb", "A")]


def test_not_before() -> None:
    router = Router()
    router.agent_login(agent("A"), 0, ready=True)
    assert router.add_item(item("cb", at=0.0, not_before=100.0), 10.0) == []
    assert router.snapshot().scheduled == ("cb",)
    assert router.next_deadline() == 100.0
    assert router.tick(99.9) == []
    assert pairs(router.tick(100.0)) == [("cb", "A")]


def test_scheduled_items_are_ordered_from_their_time() -> None:
    """A callback due at 100 goes behind a call waiting since 50, ahead of one from 150."""
    router = Router()
    router.add_item(item("cb", at=0.0, not_before=100.0), 0.0)
    router.add_item(item("early", at=50.0), 50.0)
    router.add_item(item("late", at=150.0), 150.0)
    assert [i.id for i in router.waiting(T)] == ["early", "cb", "late"]


def test_reschedule_and_priority_update() -> None:
    router = Router()
    for n in range(3):
        router.add_item(item(f"i{n}", at=float(n)), 5.0)
    router.update_priority("i2", 5, 6.0)
    router.reschedule("i0", 100.0, 6.0)
    assert [i.id for i in router.waiting(T)] == ["i2", "i1"]
    assert [i.id for i in router.waiting(T, include_scheduled=True)] == ["i2", "i1", "i0"]
    router.reschedule("i0", None, 7.0)
    assert [i.id for i in router.waiting(T)] == ["i2", "i0", "i1"]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: QueueRule(steps=(RelaxationStep(60), RelaxationStep(30))),
        lambda: RelaxationStep(-1),
        lambda: RelaxationStep(float("inf")),
        lambda: Requirement("", "x"),
    ],
)
def test_invalid_rules_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]
