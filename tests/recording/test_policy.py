"""The recording policy and the retention, pure: tables and properties."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.recording import policy
from ccari.recording.policy import InvalidPolicy, Kept

QUEUES = ("main", "sales")


@pytest.mark.parametrize(("doc", "queue", "mode"), [
    (None, "main", "none"),
    ({"mode": "all", "queues": {}}, "main", "all"),
    ({"mode": "all", "queues": {"sales": "none"}}, "sales", "none"),
    ({"mode": "all", "queues": {"sales": "none"}}, "main", "all"),
    ({"mode": "none", "queues": {"sales": "on-demand"}}, "sales", "on-demand"),
    ({"mode": "on-demand", "queues": {"sales": "all"}}, None, "on-demand"),
])
def test_the_mode_of_a_call_is_its_queues_override_else_the_tenants(
        doc: dict[str, Any] | None, queue: str | None, mode: str) -> None:
    assert policy.mode_for(doc, queue) == mode


@pytest.mark.parametrize(("doc", "says"), [
    ([], "JSON object"),
    ({"mode": "sometimes"}, "mode must be one of all, on-demand, none"),
    ({}, "mode must be one of"),
    ({"mode": "all", "retention_days": 0}, "retention_days"),
    ({"mode": "all", "retention_days": 1.5}, "retention_days"),
    ({"mode": "all", "retention_days": True}, "retention_days"),
    ({"mode": "all", "retention_days": 100000}, "retention_days"),
    ({"mode": "all", "queues": {"nope": "all"}}, "no queue 'nope'"),
    ({"mode": "all", "queues": {"sales": "maybe"}}, "queues.sales must be one of"),
    # what the document does not allow, found by the fuzzing run (null was taken as "none")
    ({"mode": "all", "queues": None}, "queues must map"),
    ({"mode": "all", "queues": 0}, "queues must map"),
    ({"mode": "all", "queues": ["sales"]}, "queues must map"),
    ({"mode": "all", "colour": "red"}, "unknown field(s): colour"),
    ({"mode": "all", "agent_playback": "yes"}, "agent_playback must be true or false"),
    ({"mode": "all", "agent_playback": None}, "agent_playback must be true or false"),
])
def test_what_a_policy_cannot_say_is_refused_with_the_reason(doc: Any, says: str) -> None:
    with pytest.raises(InvalidPolicy) as err:
        policy.check(doc, QUEUES)
    assert says in err.value.message and err.value.error_id == "bad-recording-policy"


def test_a_checked_policy_is_complete() -> None:
    assert policy.check({"mode": "on-demand", "queues": {"sales": "all"}}, QUEUES) == {
        "mode": "on-demand", "retention_days": None, "queues": {"sales": "all"},
        "agent_playback": False}


@pytest.mark.parametrize(("doc", "agents_play"), [
    (None, False), ({}, False), ({"mode": "all"}, False),  # a document saved before the key
    ({"mode": "all", "agent_playback": False}, False),
    ({"mode": "none", "agent_playback": True}, True),  # old recordings stay playable
    ({"mode": "all", "agent_playback": 1}, False),  # only a checked true counts
])
def test_agents_play_their_own_recordings_only_where_the_tenant_says_so(
        doc: Any, agents_play: bool) -> None:
    assert policy.agents_play_own(doc) is agents_play


NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
ages = st.lists(st.tuples(st.integers(1, 3), st.integers(0, 100 * 24 * 3600)), max_size=30)
retentions = st.dictionaries(st.integers(1, 3), st.one_of(st.none(), st.integers(1, 60)))


@given(ages, retentions)
def test_retention_deletes_exactly_what_is_older_than_its_tenants_days(
        rows: list[tuple[int, int]], days: dict[int, int | None]) -> None:
    kept = [Kept(f"rec-{i}", tenant, NOW - dt.timedelta(seconds=age))
            for i, (tenant, age) in enumerate(rows)]
    doomed = set(policy.expired(kept, days, NOW))
    for r, (tenant, age) in zip(kept, rows, strict=True):
        limit = days.get(tenant)
        assert (r.id in doomed) == (limit is not None and age >= limit * 86400)


def test_retention_at_the_boundary() -> None:
    day = dt.timedelta(days=1)
    kept = [Kept("old", 1, NOW - 30 * day), Kept("young", 1, NOW - 30 * day + dt.timedelta(seconds=1)),
            Kept("forever", 2, NOW - 3000 * day)]
    assert policy.expired(kept, {1: 30, 2: None}, NOW) == ["old"]
