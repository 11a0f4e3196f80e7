"""The reconcile decision, walked over every stored state and what Asterisk may report, and
the agent's controls (hold, mute) a connected call gets back after a restart."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.contacts.lifecycle import LIVE, State
from ccari.voice.reconcile import Controls, Logged, Step, controls, decide, logged_controls

AGENT = (None, "Ringing", "Up")  # the agent leg: none, ringing, answered
# Written out by hand: (state, in memory, caller up, agent leg) -> step.
EXPECTED = {
    **{(st, mem, False, ag): Step.CALLER_GONE
       for st, mem, ag in itertools.product(LIVE, (True, False), AGENT)},
    **{(State.IVR, False, True, ag): Step.RESTART_TREATMENT for ag in AGENT},
    **{(State.IVR, True, True, ag): Step.KEEP for ag in AGENT},
    **{(State.QUEUED, False, True, ag): Step.RESUME_HOLD for ag in AGENT},
    **{(State.QUEUED, True, True, ag): Step.KEEP for ag in AGENT},
    (State.OFFERED, True, True, "Up"): Step.CONNECT,
    (State.OFFERED, False, True, "Up"): Step.CONNECT,
    (State.OFFERED, True, True, None): Step.OFFER_FAILED,
    (State.OFFERED, True, True, "Ringing"): Step.KEEP,
    (State.OFFERED, False, True, None): Step.REQUEUE,
    (State.OFFERED, False, True, "Ringing"): Step.REQUEUE,
    **{(State.CONNECTED, mem, True, None): Step.AGENT_GONE for mem in (True, False)},
    **{(State.CONNECTED, mem, True, ag): Step.KEEP for mem in (True, False) for ag in ("Ringing", "Up")},
}


@pytest.mark.parametrize(("state", "in_memory", "caller_up", "agent"),
                         list(itertools.product(sorted(LIVE), (True, False), (True, False), AGENT)))
def test_every_live_state_against_what_asterisk_reports(state: State, in_memory: bool,
                                                         caller_up: bool, agent: str | None) -> None:
    assert decide(state, in_memory=in_memory, caller_up=caller_up, agent_leg=agent) \
        is EXPECTED[(state, in_memory, caller_up, agent)]


@pytest.mark.parametrize(("in_memory", "agent"), list(itertools.product((True, False), AGENT)))
def test_a_call_whose_agent_left_her_conference_goes_on(in_memory: bool,
                                                        agent: str | None) -> None:
    assert decide(State.CONNECTED, in_memory=in_memory, caller_up=True, agent_leg=agent,
                  agent_left=True) is Step.KEEP
    assert decide(State.CONNECTED, in_memory=in_memory, caller_up=False, agent_leg=agent,
                  agent_left=True) is Step.CALLER_GONE


@pytest.mark.parametrize(("state", "in_memory", "caller_up", "agent"),
                         list(itertools.product(sorted(LIVE), (True, False), (True, False), AGENT)))
def test_a_call_that_came_before_asterisk_started_was_lost_with_it(
        state: State, in_memory: bool, caller_up: bool, agent: str | None) -> None:
    """Its channel gone, it is the node's loss, not the caller's hang-up; a call still up
    (the same Asterisk, its clock stepped back) is reconciled as any other."""
    expected = EXPECTED[(state, in_memory, caller_up, agent)]
    assert decide(state, in_memory=in_memory, caller_up=caller_up, agent_leg=agent,
                  before_start=True) is (Step.NODE_LOST if not caller_up else expected)


def test_the_table_covers_every_live_state() -> None:
    assert {k[0] for k in EXPECTED} == set(LIVE)
    assert len(EXPECTED) == len(LIVE) * 2 * 2 * len(AGENT)


# ---- the agent's controls of a connected call rebuilt after a restart -----------------------
T0 = dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC)
HELD = Logged(held_since=T0)


@pytest.mark.parametrize(("logged", "in_bridge", "want"), [
    (Logged(), True, Controls()),  # talking: nothing to do
    (HELD, False, Controls(hold=True)),  # on hold: the music again (it may have been cut)
    (HELD, True, Controls(hold=True)),  # held in the log, not yet on Asterisk: finish it
    (Logged(), False, Controls(resume=True)),  # a resume cut short: the caller back
    (Logged(muted=True), True, Controls(mute=True)),
    (replace(HELD, muted=True), False, Controls(hold=True, mute=True)),
    (Logged(consult_since=T0), False, Controls(hold=True)),  # held for the consult
    (Logged(consult_since=T0), True, Controls(hold=True)),
])
def test_a_restart_gives_a_connected_call_its_controls_back(
        logged: Logged, in_bridge: bool, want: Controls) -> None:
    assert controls(logged, caller_in_bridge=in_bridge) == want


def test_a_caller_held_then_consulted_is_held_since_the_first() -> None:
    assert Logged(held_since=at(5), consult_since=at(9)).on_hold_since == at(5)
    assert Logged(consult_since=at(9)).on_hold_since == at(9)
    assert Logged().on_hold_since is None


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(("events", "want"), [
    ([], Logged()),
    ([("held", at(0), {"agent_id": 1})], Logged(held_since=at(0))),
    ([("held", at(0), {}), ("resumed", at(5), {"held_s": 5.0, "hold_s": 5.0}),
      ("held", at(9), {})], Logged(held_since=at(9), hold_s=5.0)),
    ([("held", at(0), {}), ("resumed", at(5), {"held_s": 5.0, "hold_s": 5.0})],
     Logged(hold_s=5.0)),
    ([("muted", at(1), {}), ("unmuted", at(2), {}), ("muted", at(3), {})], Logged(muted=True)),
    ([("muted", at(1), {}), ("unmuted", at(2), {})], Logged()),
    # A consult holds the caller until it ends, turns three-way or is completed.
    ([("consult-dialling", at(1), {})], Logged(consult_since=at(1))),
    ([("held", at(0), {}), ("consult-dialling", at(3), {})],
     Logged(held_since=at(0), consult_since=at(3))),
    # A consult's hold counts in the call's hold time once it ends.
    *[([("consult-dialling", at(1), {}), (end, at(4), {})], Logged(hold_s=3.0))
      for end in ("consult-ended", "consult-conference", "consult-completed")],
    # A completed consult: the agent, muted or not, has left the call to the colleague.
    ([("muted", at(0), {}), ("consult-dialling", at(1), {}), ("consult-completed", at(4), {})],
     Logged(hold_s=3.0)),
    ([("muted", at(0), {}), ("consult-dialling", at(1), {}), ("consult-ended", at(4), {})],
     Logged(muted=True, hold_s=3.0)),
    ([("held", at(0), {}), ("consult-dialling", at(3), {}), ("consult-ended", at(6), {})],
     Logged(hold_s=6.0)),  # the consult's end gives her back, held before or not
    # Held and resumed (5 s so far), then a consult of 3 s: 8 s; a later resume's own
    # figure (which counts the consult, kept in memory) is the call's from then on.
    ([("held", at(0), {}), ("resumed", at(5), {"hold_s": 5.0}),
      ("consult-dialling", at(10), {}), ("consult-ended", at(13), {})], Logged(hold_s=8.0)),
    ([("consult-dialling", at(10), {}), ("consult-ended", at(13), {}), ("held", at(20), {}),
      ("resumed", at(22), {"hold_s": 5.0})], Logged(hold_s=5.0)),

    # The agent leaving her conference gives the caller back and takes her mute with her.
    ([("held", at(0), {}), ("muted", at(1), {}), ("conference-agent-left", at(2), {})],
     Logged(hold_s=2.0)),
])
def test_the_controls_as_the_contacts_log_has_them(
        events: list[tuple[str, dt.datetime, dict[str, Any]]], want: Logged) -> None:
    assert logged_controls(events) == want


@given(st.lists(st.sampled_from(["held", "resumed", "muted", "unmuted"]), max_size=12))
def test_the_last_word_of_the_log_wins(kinds: list[str]) -> None:
    got = logged_controls([(k, at(n), {"hold_s": float(n)}) for n, k in enumerate(kinds)])
    holds = [k for k in kinds if k in ("held", "resumed")]
    mutes = [k for k in kinds if k in ("muted", "unmuted")]
    assert (got.held_since is not None) == (bool(holds) and holds[-1] == "held")
    assert got.muted == (bool(mutes) and mutes[-1] == "muted")
