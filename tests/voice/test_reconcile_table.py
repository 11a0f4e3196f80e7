"""The reconcile decision, walked over every stored state and what Asterisk may report."""

from __future__ import annotations

import itertools

import pytest

from ccari.contacts.lifecycle import LIVE, State
from ccari.voice.reconcile import Step, decide

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


def test_the_table_covers_every_live_state() -> None:
    assert {k[0] for k in EXPECTED} == set(LIVE)
    assert len(EXPECTED) == len(LIVE) * 2 * 2 * len(AGENT)
