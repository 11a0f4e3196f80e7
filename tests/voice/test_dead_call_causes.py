"""The pure parts of dead calls and phone reachability, as tables."""

from __future__ import annotations

import pytest

from ccari.agents.phones import unreachable_phones
from ccari.ari.events import ChannelHangupRequest, parse_event
from ccari.ari.models import Endpoint
from ccari.contacts.routing import router_agent
from ccari.routing import Medium
from ccari.storage.models import Agent
from ccari.voice.causes import dead_call_disposition, from_hangup_request, replaces


@pytest.mark.parametrize(
    ("cause", "expected"),
    [(44, "media-timeout"), (18, "session-timer-expired"), (16, None), (17, None), (0, None),
     (None, None)],
)
def test_destroyed_cause_to_disposition(cause: int | None, expected: str | None) -> None:
    assert dead_call_disposition(cause) == expected


@pytest.mark.parametrize(
    ("cause", "soft", "expected"),
    [
        (1, True, "media-timeout"),  # AST_SOFTHANGUP_DEV: rtp_timeout (measured)
        (32, True, None),  # AST_SOFTHANGUP_EXPLICIT: ccari's own ARI hang-up
        (16, True, None),
        (18, False, "session-timer-expired"),  # pjsip 408 on a missed refresh (measured)
        (16, False, None),  # the caller's BYE
        (1, False, None),  # Q.850 1 (unallocated) is not a dead call
        (None, True, None),
    ],
)
def test_hangup_request_to_disposition(cause: int | None, soft: bool, expected: str | None) -> None:
    assert from_hangup_request(cause, soft) == expected


def test_the_hangup_request_event_carries_what_the_mapping_needs() -> None:
    ev = parse_event({"type": "ChannelHangupRequest", "cause": 1, "soft": True,
                      "channel": {"id": "c1", "name": "PJSIP/carrier-1"}})
    assert isinstance(ev, ChannelHangupRequest) and (ev.cause, ev.soft) == (1, True)


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [("abandoned-in-queued", True), ("abandoned-in-ivr", True), ("caller-hangup", True),
     ("agent-hangup", False), ("media-timeout", False), ("callback-declined", False), (None, False)],
)
def test_only_caller_ended_dispositions_are_refined(disposition: str | None, expected: bool) -> None:
    assert replaces(disposition) is expected


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        ([], set()),
        ([("PJSIP", "alice", "offline"), ("PJSIP", "bob", "online")], {"alice"}),
        ([("PJSIP", "alice", "unknown")], set()),  # not qualified yet: reachable
        ([("SIP", "carol", "offline")], set()),
        ([("pjsip", "carol", "offline")], {"carol"}),
    ],
)
def test_unreachable_phones(endpoints: list[tuple[str, str, str]], expected: set[str]) -> None:
    got = unreachable_phones(Endpoint(technology=t, resource=r, state=s) for t, r, s in endpoints)
    assert got == expected


@pytest.mark.parametrize(
    ("slots", "phone", "per_medium", "total"),
    [
        (None, True, {Medium.VOICE: 1}, 1),
        (None, False, {Medium.VOICE: 0}, 1),
        ({"per_medium": {"voice": 1, "chat": 2}, "total": 3}, False,
         {Medium.VOICE: 0, Medium.CHAT: 2}, 3),
        ({"per_medium": {"chat": 2}}, False, {Medium.CHAT: 2}, 2),
        ({"per_medium": {"voice": 1, "email": 1}}, True, {Medium.VOICE: 1, Medium.EMAIL: 1}, 2),
    ],
)
def test_an_unreachable_phone_takes_only_the_voice_slot(
    slots: dict[str, object] | None, phone: bool, per_medium: dict[Medium, int], total: int
) -> None:
    agent = Agent(id=7, tenant_id=1, site_id=None, slots=slots, skills=[])
    spec = router_agent(agent, phone=phone).slots
    assert dict(spec.per_medium) == per_medium and spec.total == total
