"""The conference's rules, without Asterisk: how many parties fit, which commands a party's
state allows, and when the call goes on without the agent."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.errors import BadRequest, Conflict, NotFound
from ccari.voice import conference_rules as rules
from ccari.voice.conference_rules import Conference, Party

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
