"""When an agent may give a call her disposition, and what the contact keeps (pure rules
of ``ccari/voice/wrapup.py``; tests/voice/test_conference_pbx.py carries them out on the
real PBX)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.errors import Conflict
from ccari.voice import wrapup
from ccari.voice.wrapup import When

ALICE, BOB = 1, 2
STATES = ("ivr", "queued", "offered", "connected", "completed", "abandoned", "transferred")


@pytest.mark.parametrize(("state", "meta", "agent", "want"), [
    ("completed", {}, ALICE, When.ENDED),
    ("connected", {"agent_left": ALICE}, ALICE, When.LEFT),  # she left her conference
    ("connected", {}, ALICE, "call-not-ended"),  # still hers
    ("connected", {"agent_left": BOB}, ALICE, "call-not-ended"),  # someone else left
    ("offered", {"agent_left": ALICE}, ALICE, "call-not-ended"),
    ("completed", {"ended_by": "caller-hangup"}, ALICE, "already-wrapped-up"),
    ("connected", {"agent_left": ALICE, "wrap_up": {"disposition": "resolved"}}, ALICE,
     "already-wrapped-up"),
    ("completed", {"agent_left": ALICE, "wrap_up": {"disposition": "resolved"}}, ALICE,
     "already-wrapped-up"),  # the end has not written it yet: still once
])
def test_when_a_call_can_be_wrapped_up(state: str, meta: dict[str, Any], agent: int,
                                       want: When | str) -> None:
    if isinstance(want, When):
        assert wrapup.when(state, meta, agent) is want
    else:
        with pytest.raises(Conflict) as err:
            wrapup.when(state, meta, agent)
        assert err.value.error_id == want


@given(st.sampled_from(STATES), st.sampled_from([{}, {"agent_left": ALICE},
                                                 {"agent_left": BOB}, {"ended_by": ""}]))
def test_only_an_ended_call_or_one_she_left_is_wrapped_up(state: str,
                                                          meta: dict[str, Any]) -> None:
    try:
        got = wrapup.when(state, meta, ALICE)
    except Conflict:
        return
    assert "ended_by" not in meta
    assert state == "completed" or (state == "connected" and meta.get("agent_left") == ALICE)
    assert got is (When.ENDED if state == "completed" else When.LEFT)


def test_an_ended_call_keeps_its_end_cause_beside_her_code() -> None:
    assert wrapup.ended("caller-hangup", {"hold_s": 2.0}, "resolved", "called back") == (
        "resolved", {"hold_s": 2.0, "ended_by": "caller-hangup", "note": "called back"})
    assert wrapup.ended(None, {}, "no-action", "") == ("no-action", {"ended_by": ""})


def test_a_call_she_wrapped_up_early_reads_at_its_end_as_if_she_had_waited() -> None:
    live = {"agent_left": ALICE, "conference": [{"leg": "cnf-c-1"}],
            "wrap_up": {"disposition": "escalated", "note": "sam takes it"}}
    early = wrapup.at_end("conference-over", live)
    late = wrapup.ended("conference-over",
                        {k: v for k, v in live.items() if k != "wrap_up"}, "escalated",
                        "sam takes it")
    assert early == late == ("escalated", {
        "agent_left": ALICE, "conference": [{"leg": "cnf-c-1"}],
        "ended_by": "conference-over", "note": "sam takes it"})
    assert wrapup.at_end("caller-hangup", {"agent_left": ALICE}) is None  # not yet given
