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


def test_each_tenants_calls_in_progress_follow_every_change() -> None:
    """A decision reads a tenant's calls from the index, not by walking every call: the
    index must say what a walk would, after any mix of admissions and releases."""
    from hypothesis import given
    from hypothesis import strategies as st

    ops = st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(1, 3),
                             st.sampled_from(["inbound", "outbound"])), max_size=60)

    @given(ops)
    def check(steps: list[tuple[bool, int, int, str]]) -> None:
        live = LiveSet()
        walked: dict[str, LiveCall] = {}
        token = 1
        live.load(token, [])
        for add, n, tenant, direction in steps:
            call_id = f"c{n}"
            if add:
                c = LiveCall(call_id, tenant, "node1", direction,
                             T0 + dt.timedelta(seconds=n))
                walked[call_id] = c
                live.changed(token, token + 1, added=c)
            else:
                walked.pop(call_id, None)
                live.changed(token, token + 1, removed=call_id)
            token += 1
            calls = live.current(token)
            assert calls is not None and len(calls) == len(walked)
            for t in ("1", "2", "3"):
                expect = sorted((c.started_at.timestamp(), c.direction)
                                for c in walked.values() if str(c.tenant_id) == t)
                got = sorted((p.started_at, p.direction) for p in calls.of(t))
                assert got == expect
            assert calls.tenants() == {str(c.tenant_id) for c in walked.values()}
            assert all(calls.get(i) == c for i, c in walked.items())

    check()


def test_a_tenants_calls_are_the_same_tuple_until_they_change() -> None:
    live = LiveSet()
    calls = live.load(7, [call("a"), LiveCall("b", 2, "node1", "outbound", T0)])
    first = calls.of("1")
    assert calls.of("1") is first and len(first) == 1
    live.changed(7, 8, added=LiveCall("c", 2, "node1", "inbound", T0))
    assert calls.of("1") is first and len(calls.of("2")) == 2
    live.changed(8, 9, removed="a")
    assert calls.of("1") == () and calls.tenants() == {"2"}
