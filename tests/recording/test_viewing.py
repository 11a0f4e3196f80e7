"""Who may open a contact's page, and who a recording heard: tables over the pure rules."""

from __future__ import annotations

from typing import Any

import pytest

from ccari.recording.viewing import Event, handled_by, heard, may_open

ON = {"mode": "all", "agent_playback": True}
OFF = {"mode": "all", "agent_playback": False}


@pytest.mark.parametrize(("role", "viewer", "handled", "doc", "opens"), [
    ("supervisor", 9, set(), None, True),  # every contact of her tenant
    ("supervisor", 9, {1}, OFF, True),
    ("agent", 1, {1}, ON, True),  # her own, the tenant allows it
    ("agent", 1, {1}, OFF, False),
    ("agent", 1, {1}, None, False),  # no policy: supervisors only
    ("agent", 1, {1}, {"mode": "all"}, False),  # saved before the key existed
    ("agent", 2, {1}, ON, False),  # a colleague's
    ("agent", 1, set(), ON, False),  # nobody's (abandoned in the queue)
])
def test_who_opens_a_contact(role: str, viewer: int, handled: set[int],
                             doc: dict[str, Any] | None, opens: bool) -> None:
    assert may_open(role, viewer, handled, doc) is opens


def test_the_agents_who_handled_a_contact_include_those_who_passed_it_on() -> None:
    meta = {"transfers": [{"agent_id": 1, "to": {"skill": "support"}}],
            "consults": [{"agent_id": 2, "to": {"agent": "carl"}}, {"to": {"number": "+1"}}]}
    assert handled_by(3, meta) == {1, 2, 3}
    assert handled_by(None, {}) == set()


def ev(kind: str, **data: Any) -> Event:
    return Event(kind, data)


LOG = [
    ev("connected", agent_id=1),
    ev("conference-dialling", agent_id=1, to={"agent": "bob"}, leg="cnf-c-1"),
    ev("recording-started", recording="rec-c-1", agent_id=1, on_call=1),
    ev("conference-joined", leg="cnf-c-1"),
    ev("conference-dialling", agent_id=1, to={"number": "+12015550142"}, leg="cnf-c-2"),
    ev("recording-stopped", recording="rec-c-1", agent_id=1),
    ev("conference-joined", leg="cnf-c-2"),  # after the first recording's end
    ev("recording-stored", recording="rec-c-1", duration_s=3.0),
    ev("recording-started", recording="rec-c-2", agent_id=None, on_call=1),
    ev("conference-agent-left", agent_id=1),
    ev("recording-stored", recording="rec-c-2", duration_s=9.0),
]


@pytest.mark.parametrize(("recording", "caller", "agents", "parties"), [
    ("rec-c-1", True, [1], [{"agent": "bob"}]),
    # Started by the policy (agent_id None): the agent on the call is still who it heard;
    # a party that joined before it started is not in the log of this one.
    ("rec-c-2", True, [1], []),
    ("rec-c-9", False, [], []),  # not this contact's
])
def test_who_a_recording_heard(recording: str, caller: bool, agents: list[int],
                               parties: list[dict[str, str]]) -> None:
    got = heard(LOG, recording)
    assert (got.caller, got.agent_ids, got.parties) == (caller, agents, parties)


def test_a_recording_logged_before_on_call_existed_names_who_started_it() -> None:
    got = heard([ev("recording-started", recording="r", agent_id=4)], "r")
    assert got.agent_ids == [4]
