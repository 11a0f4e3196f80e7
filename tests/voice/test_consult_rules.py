"""A consult rebuilt after a restart of ccari: the phase the contact's log left it in, and
the step for every phase against what Asterisk reports of the consulted leg."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.voice.consult_rules import (
    PHASES,
    LoggedConsult,
    Phase,
    Step,
    decide,
    handed_over,
    logged_consult,
)

LEG = (None, "Ringing", "Up")  # the consulted leg: gone, ringing, answered
S = Step
# Written out by hand: (phase, leg, agent in the call's bridge) -> step.
EXPECTED = {
    **{(Phase.DIALLING, None, home): S.BACK_TO_AGENT for home in (True, False)},
    **{(Phase.DIALLING, "Ringing", home): S.RINGING for home in (True, False)},
    **{(Phase.DIALLING, "Up", home): S.ANSWERED for home in (True, False)},
    **{(Phase.ANSWERED, None, home): S.BACK_TO_AGENT for home in (True, False)},
    **{(Phase.ANSWERED, leg, home): S.ANSWERED for leg in ("Ringing", "Up")
       for home in (True, False)},
    **{(Phase.JOINED, None, home): S.LEFT for home in (True, False)},
    **{(Phase.JOINED, leg, home): S.JOINED for leg in ("Ringing", "Up")
       for home in (True, False)},
    **{(Phase.OVER, leg, True): S.NOTHING for leg in LEG},
    **{(Phase.OVER, leg, False): S.AGENT_HOME for leg in LEG},
}


@pytest.mark.parametrize(("phase", "leg", "home"),
                         list(itertools.product(Phase, LEG, (True, False))))
def test_every_phase_against_the_consulted_leg(phase: Phase, leg: str | None,
                                               home: bool) -> None:
    assert decide(phase, leg, agent_in_call=home) is EXPECTED[(phase, leg, home)]


def test_the_table_is_complete() -> None:
    assert len(EXPECTED) == len(Phase) * len(LEG) * 2


BOB = {"agent_id": 1, "to": {"agent": "bob"}, "leg": "cns-c1-1"}
OUT = {"agent_id": 1, "to": {"number": "+12015550142"}, "leg": "cns-c1-2"}


def ev(kind: str, leg: str = "cns-c1-2") -> tuple[str, dict[str, Any]]:
    return kind, {"leg": leg}


@pytest.mark.parametrize(("events", "phase"), [
    ([ev("consult-dialling")], Phase.DIALLING),
    ([ev("consult-dialling"), ev("consult-answered")], Phase.ANSWERED),
    ([ev("consult-dialling"), ev("consult-answered"), ev("consult-conference")], Phase.JOINED),
    ([ev("consult-dialling"), ev("consult-answered"), ev("consult-conference"),
      ev("consult-left")], Phase.OVER),
    ([ev("consult-dialling"), ev("consult-ended")], Phase.OVER),
    ([ev("consult-dialling"), ev("consult-answered"), ev("consult-completed")], Phase.OVER),
    # The first consult's events say nothing of the second.
    ([ev("consult-dialling", "cns-c1-1"), ev("consult-answered", "cns-c1-1"),
      ev("consult-ended", "cns-c1-1"), ev("consult-dialling")], Phase.DIALLING),
    ([ev("held"), ev("consult-dialling"), ev("muted")], Phase.DIALLING),
])
def test_the_last_consult_as_the_log_left_it(events: list[tuple[str, dict[str, Any]]],
                                             phase: Phase) -> None:
    assert logged_consult([BOB, OUT], events) == LoggedConsult(2, "cns-c1-2",
                                                               {"number": "+12015550142"}, phase)
    assert logged_consult([BOB, OUT], events).outside  # type: ignore[union-attr]


def test_a_contact_that_never_consulted_has_nothing_to_rebuild() -> None:
    assert logged_consult([], [ev("consult-dialling")]) is None
    found = logged_consult([BOB], [ev("consult-dialling", "cns-c1-1")])
    assert found is not None and not found.outside and found.n == 1


@given(st.lists(st.sampled_from(sorted(PHASES)), max_size=10))
def test_over_is_final(kinds: list[str]) -> None:
    """Once a consult is over no later event of its leg opens it again."""
    got = logged_consult([OUT], [ev(k) for k in kinds])
    assert got is not None
    over = [n for n, k in enumerate(kinds) if PHASES[k] is Phase.OVER]
    if over:
        assert got.phase is Phase.OVER
    else:
        steps = [PHASES[k] for k in kinds]
        assert got.phase is (Phase.JOINED if Phase.JOINED in steps else Phase.ANSWERED
                             if Phase.ANSWERED in steps else Phase.DIALLING)


@pytest.mark.parametrize(("events", "leg"), [
    ([], None),
    ([ev("consult-dialling"), ev("consult-answered"), ev("consult-ended")], None),
    ([ev("consult-dialling"), ev("consult-answered"), ev("consult-completed")], "cns-c1-2"),
    ([ev("consult-completed", "cns-c1-1"), ev("consult-dialling"),
      ev("consult-completed")], "cns-c1-2"),  # the colleague consulted on: the last
])
def test_the_leg_a_completed_consult_handed_the_call_to(
        events: list[tuple[str, dict[str, Any]]], leg: str | None) -> None:
    assert handed_over(events) == leg
