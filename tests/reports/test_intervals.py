"""The report's pure fold over hand-built event logs: every figure exact to the second."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.reports.intervals import (
    ALL,
    Event,
    Grid,
    GridError,
    Row,
    StateChange,
    grid,
    report,
    state_minutes,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC).timestamp()  # a Monday, 09:00 UTC
HOUR = grid(T0, T0 + 3600, "15m", "UTC")


class Log:
    """Builds a contact's events: ``log.move(at, from, to, **data)`` / ``log.note(at, kind)``."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def contact(self, cid: str, skill: str = "sales", medium: str = "voice") -> _Contact:
        return _Contact(self, cid, skill, medium)


class _Contact:
    def __init__(self, log: Log, cid: str, skill: str, medium: str) -> None:
        self.log, self.cid, self.skill, self.medium = log, cid, skill, medium

    def _add(self, at: float, kind: str, data: dict[str, Any]) -> _Contact:
        self.log.events.append(Event(len(self.log.events) + 1, T0 + at, self.cid, self.medium,
                                     self.skill, kind, data))
        return self

    def created(self, at: float, state: str = "ivr") -> _Contact:
        return self._add(at, "created", {"state": state, "medium": self.medium})

    def move(self, at: float, before: str, after: str, **data: Any) -> _Contact:
        return self._add(at, after, {"from": before, "to": after, **data})

    def note(self, at: float, kind: str, **data: Any) -> _Contact:
        return self._add(at, kind, data)

    def queued(self, at: float) -> _Contact:
        return self.created(at - 5).move(at, "ivr", "queued", fact="routed")

    def answered(self, at: float, agent: int) -> _Contact:
        return (self.move(at - 2, "queued", "offered", agent_id=agent)
                .move(at, "offered", "connected", fact="answered"))


def rows(log: Log, by: str = "skill", g: Grid = HOUR, threshold: float = 20.0,
         changes: list[StateChange] | None = None) -> dict[tuple[int, str], Row]:
    out = report(log.events, changes or [], g, by, threshold_s=threshold, now=g.end)
    return {(int((r.start - T0) // 900), r.key): r for r in out}


def test_offered_answered_abandoned_and_at_what_wait() -> None:
    log = Log()
    log.contact("a").queued(10).answered(25, agent=1).move(85, "connected", "completed")
    log.contact("b").queued(30).move(42, "queued", "abandoned", fact="customer-left")
    log.contact("c").queued(60).move(70, "queued", "offered", agent_id=1).move(
        97, "offered", "abandoned", fact="customer-left")
    log.contact("d").queued(100).answered(140, agent=2).move(200, "connected", "completed")
    log.contact("e", skill="support").queued(950).answered(960, agent=2)
    # an IVR hang-up never reached the queue: not offered, not abandoned
    log.contact("f").created(50).move(58, "ivr", "abandoned", fact="customer-left")
    r = rows(log)
    sales = r[0, "sales"]
    assert (sales.offered, sales.answered, sales.abandoned) == (4, 2, 2)
    assert sorted(sales.abandon_waits_s) == [12.0, 37.0]
    assert sales.waits_s == [15.0, 40.0] and sales.asa_s == 27.5
    assert sales.answered_within == 1 and sales.service_level == 25.0  # 1 of 4 outcomes
    assert (sales.talk_s, sales.handled) == (60.0 + 60.0, 2)
    assert r[0, ALL].offered == 4 and (0, "support") not in r
    support = r[1, "support"]
    assert (support.offered, support.answered, support.handled) == (1, 1, 0)  # still talking
    assert r[1, ALL].offered == 1
    assert r[2, ALL].offered == 0 and r[3, ALL].offered == 0  # every interval has its total
    assert len([k for k in r if k[1] == ALL]) == 4


def test_threshold_is_inclusive_and_the_tenants_own() -> None:
    log = Log()
    log.contact("a").queued(0).answered(20, agent=1)
    log.contact("b").queued(0).answered(21, agent=1)
    assert rows(log)[0, "sales"].service_level == 50.0
    assert rows(log, threshold=21)[0, "sales"].service_level == 100.0
    assert rows(log, threshold=5)[0, "sales"].service_level == 0.0


def test_hold_talk_and_wrap_up() -> None:
    log = Log()
    (log.contact("a").queued(0).answered(10, agent=7)
     .note(40, "held", agent_id=7).note(70, "resumed", agent_id=7, held_s=30.0)
     .note(100, "held", agent_id=7)  # still held when the call ends: held to the end
     .move(120, "connected", "completed", fact="ended")
     .note(155, "wrap-up", agent_id=7, disposition="sale"))
    for by, key in (("skill", "sales"), ("medium", "voice"), ("agent", "7")):
        r = rows(log, by)[0, key]
        assert (r.talk_s, r.hold_s, r.wrap_s) == (60.0, 50.0, 35.0), by
        assert r.handle_s == 145.0 and r.aht_s == 145.0 and r.answered == 1


def test_a_transfer_is_two_connections_one_contact() -> None:
    log = Log()
    # joined for sales, transferred to support (the contact's skill now)
    (log.contact("a", skill="support").created(-5).move(0, "ivr", "queued", skill="sales")
     .answered(10, agent=1)
     .move(70, "connected", "queued", fact="transferred", skill="support")
     .move(75, "queued", "offered", agent_id=2).move(80, "offered", "connected")
     .move(200, "connected", "completed", fact="ended").note(215, "wrap-up", agent_id=2))
    assert (0, "support") not in rows(log)  # counted once, in the queue it joined
    q = rows(log)[0, "sales"]
    assert (q.offered, q.answered, q.transfers, q.handled) == (1, 1, 1, 2)
    assert q.waits_s == [10.0]  # the first answer; the transfer is not a second offer
    assert (q.talk_s, q.wrap_s) == (60.0 + 120.0, 15.0)
    agents = rows(log, "agent")
    assert (agents[0, "1"].transfers, agents[0, "1"].talk_s, agents[0, "1"].wrap_s) == (1, 60, 0)
    assert (agents[0, "2"].transfers, agents[0, "2"].talk_s, agents[0, "2"].wrap_s) == (0, 120, 15)


def test_an_answer_in_the_next_interval_counts_where_the_contact_joined() -> None:
    log = Log()
    log.contact("a").queued(890).answered(930, agent=3).move(990, "connected", "completed")
    q = rows(log)
    assert q[0, "sales"].answered == 1 and q[0, "sales"].talk_s == 60
    assert (1, "sales") not in q
    agents = rows(log, "agent")  # the agent's answer is in the second quarter
    assert agents[1, "3"].answered == 1 and (0, "3") not in agents


def test_agent_time_per_state_and_occupancy() -> None:
    changes = [
        StateChange(4, T0 - 600, "ready"),  # her state as the range starts
        StateChange(4, T0 + 300, "busy"),
        StateChange(4, T0 + 1200, "wrap_up"),
        StateChange(4, T0 + 1260, "ready"),
        StateChange(4, T0 + 2700, "not_ready"),
        StateChange(4, T0 + 3000, "logged_out"),
        StateChange(5, T0 + 3500, "ready"),
    ]
    r = rows(Log(), "agent", changes=changes)
    assert r[0, "4"].states_s["ready"] == 300 and r[0, "4"].states_s["busy"] == 600
    assert r[0, "4"].occupancy == pytest.approx(100 * 600 / 900)
    assert r[1, "4"].states_s["busy"] == 300 and r[1, "4"].states_s["wrap_up"] == 60
    assert r[1, "4"].states_s["ready"] == 540 and r[1, "4"].occupancy == 40.0
    assert r[3, "4"].states_s["not_ready"] == 300 and r[3, "4"].states_s["ready"] == 0
    assert r[3, "4"].occupancy is None  # not available at all in the last quarter
    assert r[3, "5"].states_s["ready"] == 100 and r[3, "5"].occupancy == 0.0
    # now (mid-range) bounds the last state
    cut = report([], changes, HOUR, "agent", threshold_s=20, now=T0 + 3550)
    assert [x.states_s["ready"] for x in cut if x.key == "5"] == [50.0]


@pytest.mark.parametrize(("start", "end", "size", "zone", "first", "count"), [
    ("2026-03-02T09:07:00+00:00", "2026-03-02T10:00:00+00:00", "15m", "UTC", "09:00", 4),
    ("2026-03-02T09:07:00+00:00", "2026-03-02T12:30:00+00:00", "hour", "UTC", "09:00", 4),
    # the tenant's wall clock: Kolkata is UTC+05:30, its hours start at :30 UTC
    ("2026-03-02T09:07:00+00:00", "2026-03-02T11:00:00+00:00", "hour", "Asia/Kolkata", "08:30", 3),
    ("2026-03-02T09:07:00+00:00", "2026-03-05T00:00:00+00:00", "day", "America/New_York",
     "05:00", 3),
    # a day of 23 hours: Europe/London's clocks go forward on 2026-03-29
    ("2026-03-28T12:00:00+00:00", "2026-03-30T12:00:00+00:00", "day", "Europe/London", "00:00", 3),
])
def test_intervals_on_the_tenants_clock(start: str, end: str, size: str, zone: str,
                                        first: str, count: int) -> None:
    g = grid(dt.datetime.fromisoformat(start).timestamp(),
             dt.datetime.fromisoformat(end).timestamp(), size, zone)
    assert dt.datetime.fromtimestamp(g.starts[0], dt.UTC).strftime("%H:%M") == first
    assert len(g.starts) == count
    if zone == "Europe/London":
        assert [g.bound(i) - g.starts[i] for i in range(3)] == [86400, 82800, 86400]


def test_a_grid_it_cannot_cut() -> None:
    with pytest.raises(GridError):
        grid(T0, T0, "hour", "UTC")
    with pytest.raises(GridError):
        grid(T0, T0 + 3600, "week", "UTC")
    with pytest.raises(GridError):
        grid(T0, T0 + 366 * 86400, "15m", "UTC")


@given(st.lists(st.tuples(st.integers(0, 3599), st.integers(0, 120), st.booleans()),
                max_size=30))
def test_totals_add_up(contacts: list[tuple[int, int, bool]]) -> None:
    """Whatever happens: offered = answered + abandoned + still waiting; the ``all`` row is
    the sum of the skills'; every contact counts once."""
    log = Log()
    for n, (at, wait, answered) in enumerate(contacts):
        c = log.contact(str(n), skill="ab"[n % 2]).queued(at)
        if answered:
            c.answered(at + wait + 2, agent=1)
        else:
            c.move(at + wait, "queued", "abandoned")
    out = report(log.events, [], HOUR, "skill", threshold_s=20, now=HOUR.end)
    totals = [r for r in out if r.key == ALL]
    assert sum(r.offered for r in totals) == len(contacts)
    for t in totals:
        parts = [r for r in out if r.start == t.start and r.key != ALL]
        assert t.offered == sum(r.offered for r in parts) == t.answered + t.abandoned
        assert t.answered_within == sum(r.answered_within for r in parts)


def test_the_agents_chart_sums_each_state_per_interval_in_minutes() -> None:
    def row(start: float, key: str, **states: float) -> Row:
        r = Row(start=start, end=start + 900, key=key)
        r.states_s.update(states)
        return r

    rows = [row(T0 + 900, "2", busy=300.0, ready=60.0), row(T0, "1", busy=120.0),
            row(T0, "2", not_ready=90.0), row(T0 + 900, "1", wrap_up=30.0, reserved=6.0),
            row(T0, ALL, busy=9999.0)]  # a total row is not counted again
    assert state_minutes(rows) == {
        "t": [T0, T0 + 900], "ready": [0.0, 1.0], "reserved": [0.0, 0.1],
        "busy": [2.0, 5.0], "wrap_up": [0.0, 0.5], "not_ready": [1.5, 0.0]}
    assert state_minutes([]) == {"t": [], "ready": [], "reserved": [], "busy": [],
                                 "wrap_up": [], "not_ready": []}
