"""Media slots: per-medium and total capacity, exclusive voice; agent states."""

from __future__ import annotations

import pytest

from ccari.routing import AgentState, Medium, Router, SlotSpec

from .helpers import agent, item, pairs

V, C, E = Medium.VOICE, Medium.CHAT, Medium.EMAIL


# (case, slot spec, items offered in this order as (id, medium), ids expected to be offered)
SLOT_CASES = [
    ("voice only: one call", SlotSpec.voice(), [("v1", V), ("v2", V), ("c1", C)], ["v1"]),
    ("three chats and two emails, total 4",
     SlotSpec({C: 3, E: 2}, 4),
     [("c1", C), ("c2", C), ("c3", C), ("c4", C), ("e1", E), ("e2", E)],
     ["c1", "c2", "c3", "e1"]),
    ("exclusive voice blocks everything else",
     SlotSpec.blended({V: 1, C: 2}), [("v1", V), ("c1", C), ("c2", C)], ["v1"]),
    ("exclusive voice is not offered beside a chat",
     SlotSpec.blended({V: 1, C: 2}), [("c1", C), ("v1", V), ("c2", C)], ["c1", "c2"]),
    ("a medium without slots is never offered", SlotSpec({C: 2}, 2), [("e1", E)], []),
    ("non-exclusive voice beside chats", SlotSpec({V: 1, C: 1}, 2), [("c1", C), ("v1", V)],
     ["c1", "v1"]),
]


@pytest.mark.parametrize(
    ("slots", "items", "expected"), [c[1:] for c in SLOT_CASES], ids=[c[0] for c in SLOT_CASES]
)
def test_capacity(slots: SlotSpec, items: list[tuple[str, Medium]], expected: list[str]) -> None:
    router = Router()
    router.agent_login(agent("A", "s", slots=slots), 0, ready=True)
    offered = []
    for n, (item_id, medium) in enumerate(items):
        offered += [o.item_id for o in router.add_item(item(item_id, "s", medium=medium), n)]
    assert offered == expected


def test_freed_slot_takes_next_item_of_that_medium() -> None:
    router = Router()
    router.agent_login(agent("A", "s", slots=SlotSpec({C: 1, E: 1}, 2)), 0, ready=True)
    router.add_item(item("c1", "s", medium=C), 1)
    router.add_item(item("e1", "s", medium=E), 2)
    router.add_item(item("c2", "s", medium=C), 3)
    router.accept("c1", 4)
    assert pairs(router.complete("c1", 10)) == [("c2", "A")]


def test_exclusive_voice_waits_for_an_empty_agent() -> None:
    router = Router()
    router.agent_login(agent("A", "s", slots=SlotSpec.blended({V: 1, C: 2})), 0, ready=True)
    router.add_item(item("c1", "s", medium=C), 1)
    router.add_item(item("v1", "s", medium=V, at=2), 2)
    router.accept("c1", 3)
    # A chat may still go to the agent (the voice call cannot, yet).
    assert pairs(router.add_item(item("c2", "s", medium=C, at=4), 4)) == [("c2", "A")]
    assert router.remove_item("c2", 5) == []
    # The chat ends: the agent is empty, so the older voice call is offered.
    assert pairs(router.complete("c1", 6)) == [("v1", "A")]


def test_agent_states() -> None:
    router = Router()
    assert router.agent_state("A") is AgentState.LOGGED_OUT
    router.agent_login(agent("A", "s", slots=SlotSpec({C: 2}, 2)), 0)
    assert router.agent_state("A") is AgentState.NOT_READY
    router.agent_ready("A", 1)
    assert router.agent_state("A") is AgentState.READY
    router.add_item(item("c1", "s", medium=C), 2)
    assert router.agent_state("A") is AgentState.RESERVED
    router.accept("c1", 3)
    assert router.agent_state("A") is AgentState.BUSY
    router.complete("c1", 4, wrap_up=True)
    assert router.agent_state("A") is AgentState.WRAP_UP
    assert router.add_item(item("c2", "s", medium=C), 5) == []
    assert pairs(router.agent_ready("A", 6)) == [("c2", "A")]
    router.agent_logout("A", 7)
    assert router.agent_state("A") is AgentState.LOGGED_OUT
    assert [i.id for i in router.waiting("acme")] == ["c2"]


def test_agent_update_changes_skills_and_slots_live() -> None:
    router = Router()
    router.agent_login(agent("A", "s", slots=SlotSpec({C: 1}, 1)), 0, ready=True)
    router.add_item(item("c1", "s", medium=C), 1)
    router.add_item(item("c2", "t", medium=C), 2)
    offers = router.agent_update(agent("A", "s", "t", slots=SlotSpec({C: 2}, 2)), 3)
    assert pairs(offers) == [("c2", "A")]
