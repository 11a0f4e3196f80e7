"""What a transfer request names, and who may take a call: tables, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccari.errors import BadRequest, Conflict
from ccari.routing import Medium
from ccari.storage.models import Agent
from ccari.voice.ports import LegPlan, leg_formats
from ccari.voice.transfer_targets import (
    TAKES_CALLS,
    ToAgent,
    ToNumber,
    ToSkill,
    check_colleague,
    colleague_for_skill,
    takes_video,
    target_of,
    video_leg,
)


@pytest.mark.parametrize(("message", "target"), [
    ({"skill": "support"}, ToSkill("support")),
    ({"skill": " support "}, ToSkill("support")),
    ({"agent": "bob"}, ToAgent("bob")),
    ({"number": "+44 20 7946 0000"}, ToNumber("+44 20 7946 0000")),
    ({"agent": "bob", "skill": None}, ToAgent("bob")),  # null is not named
])
def test_a_request_names_one_target(message: dict[str, Any], target: object) -> None:
    assert target_of(message) == target


@pytest.mark.parametrize(("message", "error"), [
    ({}, "bad-skill"),  # a skill is the default target
    ({"skill": ""}, "bad-skill"),
    ({"skill": "  "}, "bad-skill"),
    ({"skill": 3}, "bad-skill"),
    ({"skill": "x" * 65}, "bad-skill"),
    ({"agent": ["bob"]}, "bad-agent"),
    ({"number": "1" * 33}, "bad-number"),
    ({"agent": "bob", "skill": "support"}, "bad-transfer"),
    ({"agent": "bob", "number": "+442079460000"}, "bad-transfer"),
])
def test_a_request_that_names_no_single_target_is_refused_with_its_id(
    message: dict[str, Any], error: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        target_of(message)
    assert refused.value.error_id == error


@settings(deadline=None)  # a loaded box: no per-example deadline
@given(st.dictionaries(st.sampled_from(["skill", "agent", "number", "other"]),
                       st.one_of(st.none(), st.text(max_size=40), st.integers())))
def test_any_request_gives_a_target_or_a_bad_request(message: dict[str, Any]) -> None:
    try:
        target = target_of(message)
    except BadRequest as exc:
        assert exc.status == 400 and exc.error_id.startswith("bad-")
    else:
        named = [k for k in ("skill", "agent", "number") if message.get(k) is not None]
        assert len(named) <= 1
        assert isinstance(target, ToSkill | ToAgent | ToNumber)


@pytest.mark.parametrize(("state", "takes"), sorted(TAKES_CALLS.items()))
def test_only_a_ready_colleague_is_sent_a_call(state: str, takes: bool) -> None:
    if takes:
        check_colleague(state, same_agent=False)
    else:
        with pytest.raises(Conflict) as refused:
            check_colleague(state, same_agent=False)
        assert refused.value.error_id == "agent-unavailable"
    with pytest.raises(BadRequest) as oneself:
        check_colleague(state, same_agent=True)
    assert oneself.value.error_id == "bad-transfer"


@pytest.mark.parametrize(("video", "takes_video", "state", "error"), [
    (False, False, "ready", None),  # a voice call: any ready colleague
    (True, True, "ready", None),
    (True, False, "ready", "agent-cannot-take-video"),  # a video call stays one
    (True, False, "logged_out", "agent-cannot-take-video"),  # whatever her state
    (True, True, "busy", "agent-unavailable"),
])
def test_a_video_call_goes_only_to_a_colleague_who_takes_video(
        video: bool, takes_video: bool, state: str, error: str | None) -> None:
    if error is None:
        check_colleague(state, same_agent=False, video=video, takes_video=takes_video)
        return
    with pytest.raises(Conflict) as refused:
        check_colleague(state, same_agent=False, video=video, takes_video=takes_video)
    assert refused.value.error_id == error


def test_every_router_state_is_judged() -> None:
    from ccari.routing.model import AgentState

    assert set(TAKES_CALLS) == {s.value for s in AgentState}
    assert [s for s, ok in TAKES_CALLS.items() if ok] == ["ready"]
    with pytest.raises(Conflict):
        check_colleague("something-new", same_agent=False)


@pytest.mark.parametrize(("ready", "me", "want"), [
    ([("bob", 5)], "alice", "bob"),
    ([("bob", 5), ("dan", 8)], "alice", "dan"),  # the most proficient
    ([("dan", 5), ("bob", 5)], "alice", "bob"),  # then by name
    ([("alice", 9), ("bob", 2)], "alice", "bob"),  # never herself
    ([("alice", 9)], "alice", "no-agent-free"),
    ([("bob", 0)], "alice", "no-agent-free"),  # a proficiency of 0 is not the skill
    ([], "alice", "no-agent-free"),
])
def test_the_colleague_a_consult_to_a_skill_rings(ready: list[tuple[str, int]], me: str,
                                                  want: str) -> None:
    if want == "no-agent-free":
        with pytest.raises(Conflict) as err:
            colleague_for_skill(ready, me)
        assert err.value.error_id == want
    else:
        assert colleague_for_skill(ready, me) == want


VIDEO = {"per_medium": {"voice": 1, "video": 1}, "total": 1}


@pytest.mark.parametrize(("device", "slots", "takes"), [
    ("browser", VIDEO, True),
    ("sip", VIDEO, False),  # a SIP phone agent's video slot is never used
    ("sip-tls", VIDEO, False),
    ("browser", {"per_medium": {"voice": 1}, "total": 1}, False),
    ("browser", {"per_medium": {"voice": 1, "video": 0}, "total": 1}, False),
    ("browser", None, False),  # no slots: voice only
])
def test_who_can_take_a_video_call(device: str, slots: dict[str, Any] | None,
                                   takes: bool) -> None:
    agent = Agent(id=1, tenant_id=1, username="vera", device=device, slots=slots)
    assert takes_video(agent) is takes


@pytest.mark.parametrize(("medium", "device", "video"), [
    (Medium.VIDEO, "browser", True),
    (Medium.VIDEO, "sip", False),  # her leg is audio: a consult, not a hand-over
    (Medium.VOICE, "browser", False),
])
def test_a_leg_is_rung_with_video_on_a_video_call_to_someone_who_takes_it(
        medium: Medium, device: str, video: bool) -> None:
    agent = Agent(id=1, tenant_id=1, username="vera", device=device, slots=VIDEO)
    assert video_leg(medium, agent) is video


@pytest.mark.parametrize(("formats", "video", "offered"), [
    ((), False, ()),  # the phone's own list
    (("ulaw", "alaw"), False, ("ulaw", "alaw")),
    (("gsm",), True, ("gsm", "vp8")),  # a busy site's codec, and the video as it comes
    ((), True, ("ulaw", "alaw", "vp8")),  # never left to Asterisk: it would offer audio only
])
def test_what_a_leg_offers(formats: tuple[str, ...], video: bool,
                           offered: tuple[str, ...]) -> None:
    assert leg_formats(LegPlan(formats=formats), video=video) == offered
