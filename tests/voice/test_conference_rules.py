"""The conference's rules, without Asterisk: how many parties fit, which commands a party's
state allows, and when the call goes on without the agent."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.errors import BadRequest, Conflict, NotFound
from ccari.voice import conference_rules as rules
from ccari.voice.conference_rules import (
    Conference,
    LoggedParty,
    Party,
    PartyStep,
    logged_parties,
    party_step,
)

AT = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)


def conference(*joined: bool, agent_left: bool = False) -> Conference:
    conf = Conference("c1", agent_left=agent_left)
    for n, j in enumerate(joined, 1):
        conf.parties[f"cnf-c1-{n}"] = Party(f"cnf-c1-{n}", {"agent": f"a{n}"}, AT, joined=j)
    return conf


@pytest.mark.parametrize(("added", "limit", "fits"), [
    (0, 3, True),  # customer + agent + one
    (1, 3, False),
    (3, 6, True),
    (4, 6, False),  # the default: four added parties at most
    (5, 6, False),
])
def test_the_limit_counts_the_customer_the_agent_and_ringing_parties(
        added: int, limit: int, fits: bool) -> None:
    conf = conference(*([False] * added))  # ringing ones count too
    if fits:
        rules.check_room(conf, limit)
    else:
        with pytest.raises(Conflict) as refused:
            rules.check_room(conf, limit)
        assert refused.value.error_id == "conference-full"


@pytest.mark.parametrize(("message", "error"), [
    ({}, "bad-party"),
    ({"party": ""}, "bad-party"),
    ({"party": 3}, "bad-party"),
    ({"party": "x" * 65}, "bad-party"),
    ({"party": "cnf-other-1"}, "party-not-found"),
])
def test_a_command_names_one_party_of_this_call(message: dict[str, object], error: str) -> None:
    with pytest.raises((BadRequest, NotFound)) as refused:
        rules.party_of(conference(True), message)
    assert refused.value.error_id == error


def test_the_named_party_is_found() -> None:
    conf = conference(True, False)
    assert rules.party_of(conf, {"party": "cnf-c1-2"}) is conf.parties["cnf-c1-2"]


@pytest.mark.parametrize(("joined", "muted", "want", "error"), [
    (False, False, True, "party-not-joined"),
    (True, False, True, None),
    (True, True, True, "party-muted"),
    (True, True, False, None),
    (True, False, False, "party-not-muted"),
])
def test_mute_and_unmute(joined: bool, muted: bool, want: bool, error: str | None) -> None:
    party = Party("cnf-c1-1", {"number": "+12015550142"}, AT, joined=joined, muted=muted)
    if error is None:
        rules.check_mute(party, want)
    else:
        with pytest.raises(Conflict) as refused:
            rules.check_mute(party, want)
        assert refused.value.error_id == error


@pytest.mark.parametrize(("joined", "ok"), [((), False), ((False,), False), ((True,), True),
                                            ((False, True), True)])
def test_the_agent_leaves_only_a_conference_that_goes_on(joined: tuple[bool, ...],
                                                         ok: bool) -> None:
    conf = conference(*joined)
    if ok:
        rules.check_leave(conf)
    else:
        with pytest.raises(Conflict) as refused:
            rules.check_leave(conf)
        assert refused.value.error_id == "conference-empty"


@given(st.lists(st.booleans(), max_size=6), st.booleans())
def test_the_call_goes_on_with_the_agent_or_one_joined_party(joined: list[bool],
                                                             agent_left: bool) -> None:
    conf = conference(*joined, agent_left=agent_left)
    assert rules.goes_on(conf) == (not agent_left or any(joined))


def test_a_party_as_the_page_lists_it() -> None:
    party = Party("cnf-c1-1", {"agent": "bob"}, AT, joined=True, muted=True)
    assert party.view() == {"id": "cnf-c1-1", "who": {"agent": "bob"},
                            "since": "2026-12-05T03:00:00+00:00", "state": "joined",
                            "muted": True}


# ---- rebuilt after a restart -------------------------------------------------------------------
T0 = dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC)
LEGS = (None, "Ringing", "Up")
PHASE_STEPS = {  # written out by hand: (logged phase, the leg) -> step
    ("dialling", None): PartyStep.LEFT, ("dialling", "Ringing"): PartyStep.RINGING,
    ("dialling", "Up"): PartyStep.JOIN,
    ("joined", None): PartyStep.LEFT, ("joined", "Ringing"): PartyStep.KEEP,
    ("joined", "Up"): PartyStep.KEEP,
    ("over", None): PartyStep.NOTHING, ("over", "Ringing"): PartyStep.NOTHING,
    ("over", "Up"): PartyStep.NOTHING,
}


@pytest.mark.parametrize(("phase", "leg"), list(itertools.product(
    ("dialling", "joined", "over"), LEGS)))
def test_every_logged_party_against_its_leg(phase: str, leg: str | None) -> None:
    assert party_step(phase, leg) is PHASE_STEPS[(phase, leg)]


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def test_the_parties_as_the_log_left_them() -> None:
    meta = [{"agent_id": 1, "to": {"agent": "bob"}, "leg": "cnf-c-1"},
            {"agent_id": 1, "to": {"number": "+12015550142"}, "leg": "cnf-c-2"},
            {"agent_id": 1, "to": {"agent": "sam"}, "leg": "cnf-c-3"},
            {"agent_id": 1, "to": {"number": "+12015550143"}, "leg": "cnf-c-4"}]
    events = [("conference-dialling", t(0), {"leg": "cnf-c-1"}),
              ("conference-joined", t(2), {"leg": "cnf-c-1"}),
              ("conference-dialling", t(3), {"leg": "cnf-c-2"}),
              ("conference-joined", t(5), {"leg": "cnf-c-2"}),
              ("conference-muted", t(6), {"leg": "cnf-c-2"}),
              ("conference-dialling", t(7), {"leg": "cnf-c-3"}),
              ("conference-dialling", t(8), {"leg": "cnf-c-4"}),
              ("conference-joined", t(9), {"leg": "cnf-c-4"}),
              ("conference-muted", t(10), {"leg": "cnf-c-4"}),
              ("conference-unmuted", t(11), {"leg": "cnf-c-4"}),
              ("conference-removed", t(12), {"leg": "cnf-c-1"}),
              ("conference-joined", t(13), {"leg": "cnf-c-1"}),  # over is over
              ("held", t(14), {})]
    assert logged_parties(meta, events) == [
        LoggedParty("cnf-c-1", {"agent": "bob"}, t(2), "over"),
        LoggedParty("cnf-c-2", {"number": "+12015550142"}, t(5), "joined", muted=True),
        LoggedParty("cnf-c-3", {"agent": "sam"}, t(7)),
        LoggedParty("cnf-c-4", {"number": "+12015550143"}, t(9), "joined")]
