"""Which agent gets an item, and which item an agent gets: tables of small scenarios."""

from __future__ import annotations

import pytest

from ccari.routing import (
    Agent,
    Medium,
    QueueRule,
    Requirement,
    Router,
    Rules,
    SlotSpec,
    Strategy,
)

from .helpers import T, agent, item, pairs

CHATS = SlotSpec({Medium.CHAT: 3}, 3)


def _ready(router: Router, agents: list[Agent], at: list[float] | None = None) -> None:
    for n, a in enumerate(agents):
        when = at[n] if at else 0.0
        assert router.agent_login(a, when, ready=True) == []


# (case, agents, idle-since per agent, requirements of the item, expected agent)
AGENT_CHOICE = [
    ("required attribute filters", [agent("A", "support"), agent("B", "sales")], None,
     ["sales"], "B"),
    ("required attribute missing: nobody", [agent("A", "support")], None, ["sales"], None),
    ("minimum proficiency filters",
     [agent("A", ("sales", 2)), agent("B", ("sales", 4))], None,
     [Requirement("skill", "sales", min_proficiency=3)], "B"),
    ("higher proficiency fits better", [agent("A", ("sales", 3)), agent("B", ("sales", 5))],
     None, ["sales"], "B"),
    ("preferred attribute adds to the fit",
     [agent("A", "sales"), agent("B", "sales", extra={("lang", "fr"): 1})], None,
     ["sales", Requirement("lang", "fr", required=False)], "B"),
    ("preferred below its minimum adds nothing: longest idle wins",
     [agent("A", "sales"), agent("B", "sales", extra={("lang", "fr"): 1})], [5.0, 9.0],
     ["sales", Requirement("lang", "fr", required=False, min_proficiency=3)], "A"),
    ("weights scale the fit",
     [agent("A", ("sales", 5), extra={("lang", "fr"): 1}),
      agent("B", ("sales", 3), extra={("lang", "fr"): 3})], None,
     [Requirement("skill", "sales", weight=1.0), Requirement("lang", "fr", weight=2.0)], "B"),
    ("equal fit: longest idle", [agent("A", "sales"), agent("B", "sales")], [9.0, 4.0],
     ["sales"], "B"),
    ("equal fit and idle time: smallest id", [agent("B", "sales"), agent("A", "sales")],
     [4.0, 4.0], ["sales"], "A"),
    ("no requirement: any agent of the tenant, longest idle",
     [agent("A", "x"), agent("B")], [3.0, 1.0], [], "B"),
]


@pytest.mark.parametrize(
    ("agents", "idle", "reqs", "expected"),
    [case[1:] for case in AGENT_CHOICE],
    ids=[case[0] for case in AGENT_CHOICE],
)
def test_best_agent_for_a_new_item(
    agents: list[Agent], idle: list[float] | None, reqs: list[str | Requirement], expected: str | None
) -> None:
    router = Router()
    _ready(router, agents, idle)
    offers = router.add_item(item("i1", *reqs, at=10.0), 10.0)
    assert pairs(offers) == ([("i1", expected)] if expected else [])


def test_least_occupied_before_longest_idle_for_multi_slot_agents() -> None:
    router = Router()
    _ready(router, [agent("A", "c", slots=CHATS), agent("B", "c", slots=CHATS)], [0.0, 5.0])
    assert pairs(router.add_item(item("i1", "c", medium=Medium.CHAT), 10)) == [("i1", "A")]
    # A now holds one chat: B is less occupied although A has been idle longer.
    assert pairs(router.add_item(item("i2", "c", medium=Medium.CHAT), 11)) == [("i2", "B")]
    assert pairs(router.add_item(item("i3", "c", medium=Medium.CHAT), 12)) == [("i3", "A")]


@pytest.mark.parametrize(
    ("strategy", "expected"), [(Strategy.BEST_FIT, "B"), (Strategy.LEAST_BUSY, "A")]
)
def test_strategy_orders_fit_and_occupancy(strategy: Strategy, expected: str) -> None:
    router = Router(Rules(default=QueueRule(strategy=strategy)))
    _ready(router, [agent("A", ("c", 1), slots=CHATS), agent("B", ("c", 5), slots=CHATS)])
    router.add_item(item("warm", Requirement("skill", "c", min_proficiency=5),
                         medium=Medium.CHAT), 1)  # B now holds one chat
    offers = router.add_item(item("i1", "c", medium=Medium.CHAT), 2)
    assert pairs(offers) == [("i1", expected)]


# (case, waiting items as (id, priority, arrived_at, skills), expected first item for the agent)
ITEM_CHOICE = [
    ("oldest first", [("new", 0, 5.0, ["s"]), ("old", 0, 1.0, ["s"])], "old"),
    ("priority before age", [("old", 0, 1.0, ["s"]), ("vip", 3, 5.0, ["s"])], "vip"),
    ("same age and priority: smallest id", [("b", 0, 1.0, ["s"]), ("a", 0, 1.0, ["s"])], "a"),
    ("ineligible items are skipped",
     [("other", 9, 0.0, ["t"]), ("mine", 0, 4.0, ["s"])], "mine"),
    ("items without requirements compete too",
     [("any", 0, 2.0, []), ("mine", 0, 3.0, ["s"])], "any"),
]


@pytest.mark.parametrize(
    ("waiting", "expected"), [c[1:] for c in ITEM_CHOICE], ids=[c[0] for c in ITEM_CHOICE]
)
def test_best_item_for_a_freed_agent(
    waiting: list[tuple[str, int, float, list[str]]], expected: str
) -> None:
    router = Router()
    for item_id, priority, at, skills in waiting:
        assert router.add_item(item(item_id, *skills, at=at, priority=priority), 6.0) == []
    assert router.agent_login(agent("A", "s"), 7.0) == []
    assert pairs(router.agent_ready("A", 8.0)) == [(expected, "A")]


def test_freed_agent_takes_the_best_item_across_its_media() -> None:
    router = Router()
    blended = SlotSpec({Medium.CHAT: 1, Medium.EMAIL: 1}, 2)
    router.add_item(item("mail", "s", at=1.0, medium=Medium.EMAIL), 9)
    router.add_item(item("chat", "s", at=2.0, medium=Medium.CHAT), 9)
    router.agent_login(agent("A", "s", slots=blended), 9)
    assert pairs(router.agent_ready("A", 10)) == [("mail", "A"), ("chat", "A")]


def test_multi_tenant_isolation() -> None:
    router = Router()
    _ready(router, [agent("A", "s", tenant="other")])
    assert router.add_item(item("i1", "s", tenant=T), 1) == []
    assert router.add_item(item("i2", tenant=T), 1) == []
    router.agent_login(agent("B", "s"), 2)
    assert pairs(router.agent_ready("B", 3)) == [("i1", "B")]
    assert router.waiting("other") == []
    assert [i.id for i in router.waiting(T)] == ["i2"]


def test_reserved_agent_only() -> None:
    router = Router()
    _ready(router, [agent("A", "s"), agent("B", "s")], [0.0, 5.0])
    # A has been idle longer, but the callback is reserved for B.
    assert pairs(router.add_item(item("cb", "s", reserved_agent="B"), 6)) == [("cb", "B")]
    assert router.add_item(item("cb2", "s", reserved_agent="B"), 7) == []  # B is reserved
    assert router.add_item(item("cb3", "s", reserved_agent="Z"), 7) == []  # not logged in
    router.agent_login(agent("Z", "s", tenant="other"), 8, ready=True)
    assert router.tick(9) == []  # same id in another tenant: still not eligible
    assert [i.id for i in router.waiting(T)] == ["cb2", "cb3"]
