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
