"""The node's copy of the live admitted set: current exactly while the pool row carries the
token of this node's last change."""

from __future__ import annotations

import datetime as dt

from ccari.admission.liveset import LiveSet, new_token
from ccari.admission.repo import LiveCall

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def call(call_id: str) -> LiveCall:
    return LiveCall(call_id, 1, "node1", "inbound", T0)


def ids(calls: list[LiveCall] | None) -> set[str] | None:
    return None if calls is None else {c.call_id for c in calls}


def test_a_copy_is_read_again_unless_the_token_is_the_one_it_carries() -> None:
    live = LiveSet()
    assert live.current(0) is None  # never read
    live.load(7, [call("a")])
    assert ids(live.current(7)) == {"a"}
    assert live.current(8) is None  # another node changed the set since


def test_its_own_changes_follow_the_tokens_it_writes() -> None:
    live = LiveSet()
    live.load(7, [call("a")])
    live.changed(7, 11, added=call("b"))
    assert ids(live.current(11)) == {"a", "b"}
    live.changed(11, 12, removed="a")
    assert ids(live.current(12)) == {"b"}
    assert live.current(7) is None


def test_a_change_made_on_a_stale_copy_drops_it() -> None:
    live = LiveSet()
    live.load(7, [call("a")])
    live.changed(9, 10, added=call("b"))  # the row carried 9: someone else changed it first
    assert live.current(10) is None and live.current(9) is None


def test_a_rolled_back_change_is_not_trusted() -> None:
    live = LiveSet()
    live.load(7, [call("a")])
    live.changed(7, 11, added=call("b"))  # written, then the transaction rolled back: row says 7
    assert live.current(7) is None
    live.forget()
    assert live.current(11) is None


def test_tokens_do_not_repeat() -> None:
    assert len({new_token() for _ in range(1000)}) == 1000
