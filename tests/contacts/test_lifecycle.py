"""The contact lifecycle table: every state against every fact, and the documented table."""

from __future__ import annotations

import itertools

import pytest

import ccari.contacts.lifecycle as lifecycle
from ccari.contacts.lifecycle import ENDED, LIVE, TRANSITIONS, WAITING, Fact, IllegalTransition, State, step

# The moves a contact center must allow, written out by hand (not derived from the table).
EXPECTED = {
    ("ivr", "routed"): "queued", ("ivr", "customer-left"): "abandoned",
    ("ivr", "self-served"): "completed",
    ("scheduled", "due"): "queued", ("scheduled", "dialled"): "dialing",
    ("scheduled", "rescheduled"): "scheduled", ("scheduled", "customer-left"): "abandoned",
    ("scheduled", "gave-up"): "failed",
    ("dialing", "routed"): "queued", ("dialing", "rescheduled"): "scheduled",
    ("dialing", "customer-left"): "abandoned", ("dialing", "gave-up"): "failed",
    ("queued", "offered"): "offered", ("queued", "rescheduled"): "scheduled",
    ("queued", "customer-left"): "abandoned", ("queued", "gave-up"): "failed",
    ("offered", "declined"): "queued", ("offered", "customer-answered"): "offered",
    ("offered", "answered"): "connected", ("offered", "rescheduled"): "scheduled",
    ("offered", "customer-left"): "abandoned", ("offered", "gave-up"): "failed",
    ("connected", "transferred"): "queued", ("connected", "ended"): "completed",
    ("completed", "customer-wrote"): "queued", ("abandoned", "customer-wrote"): "queued",
}


@pytest.mark.parametrize(("state", "fact"), list(itertools.product(State, Fact)))
def test_every_state_against_every_fact(state: State, fact: Fact) -> None:
    expected = EXPECTED.get((state.value, fact.value))
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            step(state, fact)
        assert state.value in str(err.value) and fact.value in str(err.value)
        assert err.value.status == 409
        assert not lifecycle.allows(state, fact)
    else:
        assert step(state, fact) == State(expected)
        assert lifecycle.allows(state, fact)


def test_an_unknown_stored_state_is_refused_not_guessed() -> None:
    with pytest.raises(IllegalTransition):
        step("ringing", Fact.ANSWERED)
    assert not lifecycle.allows("ringing", Fact.ANSWERED)


def test_a_call_can_end_from_every_live_state() -> None:
    for state in LIVE:
        ends = {step(state, f) for f in TRANSITIONS[state]} & ENDED
        assert ends, f"{state} has no way to end"


def test_nothing_leaves_failed_and_the_groups_are_disjoint() -> None:
    assert TRANSITIONS[State.FAILED] == {}
    assert not (LIVE & ENDED) and WAITING <= LIVE


def test_the_documented_table_is_the_table() -> None:
    doc = lifecycle.__doc__ or ""
    start = doc.index("<!-- lifecycle-table -->") + len("<!-- lifecycle-table -->")
    end = doc.index("<!-- /lifecycle-table -->")
    assert doc[start:end].strip() == lifecycle.table()


# What must follow the moves of a call, written out by hand (not derived from the rules).
C = lifecycle.Command
EXPECTED_COMMANDS = {
    ("ivr", "routed"): (C.ENQUEUE,),
    ("ivr", "customer-left"): (C.RELEASE,),  # the trunk of a caller gone in the IVR
    ("queued", "offered"): (C.PRESENT,),
    ("offered", "declined"): (C.WITHDRAW, C.REQUEUE),  # rang out: back in its place
    ("offered", "answered"): (C.CONNECT,),
    ("offered", "customer-left"): (C.WITHDRAW, C.DEQUEUE, C.RELEASE),  # stop the agent's ring
    ("queued", "customer-left"): (C.DEQUEUE, C.RELEASE),
    ("connected", "ended"): (C.DISCONNECT, C.WRAP_UP, C.RELEASE),
    ("connected", "transferred"): (C.DISCONNECT, C.ENQUEUE),
    ("dialing", "gave-up"): (C.RELEASE,),  # a callback's outbound trunk
    ("dialing", "routed"): (C.ENQUEUE,),  # the dialled customer keeps the trunk, now queued
    ("scheduled", "due"): (C.ENQUEUE,),
    ("completed", "customer-wrote"): (C.ENQUEUE,),
}


@pytest.mark.parametrize(("state", "fact"), sorted(EXPECTED_COMMANDS))
def test_each_move_says_what_follows(state: str, fact: str) -> None:
    move = lifecycle.move(state, Fact(fact))
    assert move.state is step(state, Fact(fact))
    assert move.commands == EXPECTED_COMMANDS[state, fact]


def test_the_commands_keep_what_a_contact_holds_balanced() -> None:
    """Over every move: an offer is taken back exactly when one is left other than by being
    answered; what entered the queue leaves it through exactly one way; a trunk is released
    exactly when the contact stops holding one."""
    for state, moves in TRANSITIONS.items():
        for fact, new in moves.items():
            cmds = lifecycle.move(state, fact).commands
            assert len(set(cmds)) == len(cmds)
            left_offer = state is State.OFFERED and new not in (State.OFFERED, State.CONNECTED)
            assert (C.WITHDRAW in cmds) == left_offer, (state, fact)
            queue_ops = {C.REQUEUE, C.DEQUEUE, C.ENQUEUE, C.PRESENT, C.CONNECT} & set(cmds)
            if state in WAITING and new not in WAITING:
                assert queue_ops & {C.DEQUEUE, C.CONNECT}, (state, fact)
            holding = lifecycle.HOLDING
            assert (C.RELEASE in cmds) == (state in holding and new not in holding), (state, fact)


def test_an_illegal_move_has_no_commands_it_raises() -> None:
    with pytest.raises(IllegalTransition):
        lifecycle.move("completed", Fact.ANSWERED)


@pytest.mark.parametrize("state", list(State))
def test_only_a_contact_born_queued_is_routed_at_once(state: State) -> None:
    assert lifecycle.born(state) == ((lifecycle.Command.ENQUEUE,) if state is State.QUEUED else ())
