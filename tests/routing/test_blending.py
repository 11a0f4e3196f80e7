"""Fair blending: capacity held back on blended agents for a voice call that waited too long."""

from __future__ import annotations

import pytest

from ccari.routing import Agent, Medium, Router, Rules, SlotSpec

from .helpers import T, agent, item, pairs

V, C, E = Medium.VOICE, Medium.CHAT, Medium.EMAIL
BLENDED = SlotSpec.blended({V: 1, C: 2})
HOLD = Rules(hold_after=30.0)


def chat_stream(rules: Rules, until: float = 300.0) -> tuple[float | None, list[str]]:
    """One blended agent; a chat arrives every 10 s and lasts 15 s once accepted, so the agent
    always holds a chat; a call arrives at 1 s. When is the call offered, and which chats
    were offered after it had waited 30 s?"""
    router = Router(rules)
    router.agent_login(agent("A", "s", slots=BLENDED), 0.0, ready=True)
    ends: dict[str, float] = {}
    call_offered: float | None = None
    late_chats: list[str] = []
    t, n = 0.0, 0
    while t <= until and call_offered is None:
        offers = []
        for item_id in sorted(i for i, end in ends.items() if end <= t):
            del ends[item_id]
            offers += router.complete(item_id, t)
        if t % 10 == 0:
            n += 1
            offers += router.add_item(item(f"c{n}", "s", medium=C, at=t), t)
        if t == 1.0:
            offers += router.add_item(item("v1", "s", medium=V, at=t), t)
        offers += router.tick(t)
        for offer in offers:
            if offer.item_id == "v1":
                call_offered = t
                continue
            router.accept(offer.item_id, t)
            ends[offer.item_id] = t + 15.0
            if t >= 31.0:
                late_chats.append(offer.item_id)
        t += 1.0
    return call_offered, late_chats


def test_a_stream_of_chats_starves_the_call_without_the_rule() -> None:
    offered, _ = chat_stream(Rules())
    assert offered is None  # five minutes of chats, and the caller still waits


def test_with_the_rule_the_waiting_call_gets_her_once_her_chats_end() -> None:
    offered, late_chats = chat_stream(HOLD)
    # Waited 30 s at 31 s; her chats then (the one of 30 s ends at 45 s) finish, no new one.
    assert offered == 45.0
    assert late_chats == []


def test_the_hold_is_per_tenant() -> None:
    assert chat_stream(Rules(tenant_hold_after={T: 30.0}))[0] == 45.0
    assert chat_stream(Rules(hold_after=30.0, tenant_hold_after={T: 0.0}))[0] is None


def overdue_call(rules: Rules, *agents: Agent) -> Router:
    """Each agent holds one accepted chat; a call for skill s has waited 40 s."""
    router = Router(rules)
    for n, a in enumerate(agents):
        router.agent_login(a, 0.0, ready=True)
        if a.slots.per_medium.get(C):
            own = item(f"mine{n}", medium=C, reserved_agent=a.id, tenant=a.tenant)
            assert pairs(router.add_item(own, 0.0)) == [(own.id, a.id)]
            router.accept(own.id, 0.0)
    router.add_item(item("v1", "s", at=0.0), 0.0)
    router.tick(40.0)
    return router


# (case, the agent, whether its capacity is held back for the call)
KEPT_CASES = [
    ("blended and eligible", agent("A", "s", slots=BLENDED), True),
    ("blended, lacks the skill", agent("A", "other", slots=BLENDED), False),
    ("blended, another tenant", agent("A", "s", slots=BLENDED, tenant="other"), False),
    ("chats only", agent("A", "s", slots=SlotSpec({C: 2}, 2)), False),
    ("voice beside chats, not exclusive", agent("A", "s", slots=SlotSpec({V: 1, C: 2}, 3)), False),
]


@pytest.mark.parametrize(("who", "kept"), [c[1:] for c in KEPT_CASES],
                         ids=[c[0] for c in KEPT_CASES])
def test_who_is_held_back(who: Agent, kept: bool) -> None:
    router = overdue_call(HOLD, who)
    assert router.agent_kept_for("A") == (("v1",) if kept else ())
    offered = pairs(router.add_item(item("c9", medium=C, at=41.0, tenant=who.tenant), 41.0))
    assert offered == ([] if kept else [("c9", "A")] if who.slots.per_medium.get(C) else [])


def test_not_held_before_the_call_has_waited_long_enough() -> None:
    router = Router(HOLD)
    router.agent_login(agent("A", "s", slots=BLENDED), 0.0, ready=True)
    router.add_item(item("mine", medium=C), 0.0)
    router.accept("mine", 0.0)
    router.add_item(item("v1", "s", at=1.0), 1.0)
    assert pairs(router.add_item(item("c1", medium=C, at=30.0), 30.0)) == [("c1", "A")]
    assert router.next_deadline() == 31.0
    router.tick(31.0)
    assert router.agent_kept_for("A") == ("v1",)
    assert router.add_item(item("c2", medium=C, at=31.0), 31.0) == []


def test_once_the_call_is_placed_the_others_take_chats_again() -> None:
    router = overdue_call(HOLD, agent("A", "s", slots=BLENDED), agent("B", "s", slots=BLENDED))
    assert router.add_item(item("c9", medium=C, at=41.0), 41.0) == []
    # A's chat ends: the call goes to A, and B, no longer held back, gets the waiting chat.
    assert pairs(router.complete("mine0", 50.0)) == [("v1", "A"), ("c9", "B")]
    assert router.agent_kept_for("B") == ()


def test_a_caller_hanging_up_releases_the_held_capacity() -> None:
    router = overdue_call(HOLD, agent("A", "s", slots=BLENDED))
    router.add_item(item("c9", medium=C, at=41.0), 41.0)
    assert pairs(router.remove_item("v1", 45.0)) == [("c9", "A")]


def test_an_agent_who_refused_the_call_is_not_held_back_for_it() -> None:
    router = Router(HOLD)
    router.agent_login(agent("A", "s", slots=BLENDED), 0.0, ready=True)
    router.add_item(item("v1", "s", at=0.0), 0.0)
    router.reject("v1", 35.0)  # refused after 35 s: kept from her for the re-offer delay
    assert router.agent_kept_for("A") == ()
    assert pairs(router.add_item(item("c1", medium=C, at=36.0), 36.0)) == [("c1", "A")]
    router.accept("c1", 36.0)
    router.tick(45.0)  # the re-offer delay is over: she is held back for it again
    assert router.agent_kept_for("A") == ("v1",)
    assert router.add_item(item("c2", medium=C, at=46.0), 46.0) == []
    assert pairs(router.complete("c1", 50.0)) == [("v1", "A")]


def test_an_agent_logging_in_while_the_call_waits_is_held_back() -> None:
    router = Router(HOLD)
    router.add_item(item("v1", "s", at=0.0), 0.0)
    router.add_item(item("c1", medium=C, at=0.0), 0.0)
    # Entirely free: the call (older) is hers; the chat waits, she is not held back any more.
    assert pairs(router.agent_login(agent("A", "s", slots=BLENDED), 40.0, ready=True)) == [
        ("v1", "A")]
    assert router.agent_kept_for("A") == ()


def test_the_hold_can_be_turned_on_and_off_per_tenant() -> None:
    router = overdue_call(Rules(), agent("A", "s", slots=BLENDED))
    assert router.agent_kept_for("A") == ()
    assert router.set_hold_after(T, 30.0, 41.0) == []
    assert router.agent_kept_for("A") == ("v1",)
    router.add_item(item("c9", medium=C, at=42.0), 42.0)
    assert pairs(router.set_hold_after(T, 0.0, 43.0)) == [("c9", "A")]
    assert router.agent_kept_for("A") == ()


def test_a_hold_must_be_seconds() -> None:
    with pytest.raises(ValueError, match="hold_after"):
        Rules(hold_after=-1.0)
    with pytest.raises(ValueError, match="hold_after"):
        Rules(tenant_hold_after={T: float("nan")})
