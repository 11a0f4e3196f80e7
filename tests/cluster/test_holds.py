"""The "two voice offers" checker itself, on logs written by hand."""

from __future__ import annotations

import datetime as dt

from tests.cluster.holds import Event, double_holds

T = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def at(s: float) -> dt.datetime:
    return T + dt.timedelta(seconds=s)


def test_one_call_after_another_is_no_double_hold() -> None:
    log = [Event("c1", "offered", at(0), {"agent_id": 7}), Event("c1", "connected", at(1), {}),
           Event("c1", "completed", at(5), {}), Event("c2", "offered", at(5), {"agent_id": 7}, 9),
           Event("c2", "queued", at(8), {}), Event("c3", "offered", at(9), {"agent_id": 7})]
    assert double_holds(log) == []


def test_a_second_offer_while_she_holds_a_call_is_found() -> None:
    log = [Event("c1", "offered", at(0), {"agent_id": 7}), Event("c1", "connected", at(1), {}),
           Event("c2", "offered", at(2), {"agent_id": 7}), Event("c2", "offered", at(2), {"agent_id": 8}),
           Event("c1", "completed", at(3), {})]
    assert double_holds(log) == [(7, "c1", "c2", at(2))]


def test_the_order_of_the_log_settles_ties() -> None:
    """Ended and offered again in the same instant: the log's order, not the list's."""
    log = [Event("c2", "offered", at(5), {"agent_id": 7}, order=2),
           Event("c1", "offered", at(0), {"agent_id": 7}, order=0),
           Event("c1", "completed", at(5), {}, order=1)]
    assert double_holds(log) == []
