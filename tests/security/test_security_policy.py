"""The pure policy of the SIP attack guard: tables, then properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccari.security.policy import Block, Rules, Tracker

RULES = Rules.of(exempt=("127.0.0.2", "10.0.0.0/8"), max_failures=3, window_s=10.0,
                 block_s=100.0, repeat_factor=2.0, max_block_s=350.0, repeat_memory_s=1000.0)
A = "192.0.2.7"


def run(times: list[float], address: str = A, rules: Rules = RULES) -> list[Block]:
    t = Tracker(rules)
    out = []
    for now in times:
        t.expire(now)
        block = t.failure(address, "ChallengeResponseFailed", now)
        if block is not None:
            out.append(block)
    return out


@pytest.mark.parametrize(("times", "expected"), [
    ([], []),
    ([0, 1], []),  # fewer than max_failures
    ([0, 1, 2], [(2, 102)]),  # the third within the window blocks for block_s
    ([0, 5, 10.0], []),  # the first has left the window (window_s = 10)
    ([0, 5, 9.9], [(9.9, 109.9)]),
    ([0, 1, 2, 3, 4, 50, 101], [(2, 102)]),  # failures while blocked count for nothing...
    ([0, 1, 2, 103, 104, 105], [(2, 102), (105, 305)]),  # ...a repeat lasts twice as long
    ([0, 1, 2, 103, 104, 105, 306, 307, 308], [(2, 102), (105, 305), (308, 658)]),  # capped
    ([0, 1, 2, 2000, 2001, 2002], [(2, 102), (2002, 2102)]),  # an old offence is forgotten
])
def test_when_an_address_is_blocked(times: list[float], expected: list[tuple[float, float]]) -> None:
    assert [(b.at, b.until) for b in run(times)] == expected


@pytest.mark.parametrize("address", ["127.0.0.2", "10.1.2.3", "10.255.255.255"])
def test_the_carrier_and_allowed_networks_are_never_blocked(address: str) -> None:
    assert run([0, 0, 0, 1, 1, 1], address) == []


def test_ipv6_is_blocked_like_ipv4_and_not_matched_by_ipv4_networks() -> None:
    assert [b.address for b in run([0, 1, 2], "2001:db8::1")] == ["2001:db8::1"]


def test_expiry_unblock_and_restore() -> None:
    t = Tracker(RULES)
    for now in (0, 1, 2):
        t.failure(A, "x", now)
    assert t.blocked(50) == {A: 102} and t.next_expiry() == 102
    assert t.expire(101) == [] and t.expire(102) == [A] and t.expire(103) == []
    assert t.blocked(103) == {}
    again = Tracker(RULES)  # a restart: the stored block comes back, and counts as a repeat
    again.restore([Block(A, "x", 3, 2, 102, 1)])
    assert again.blocked(50) == {A: 102}
    assert again.unblock(A) and again.blocked(50) == {} and not again.unblock(A)
    for now in (60, 61, 62):
        block = again.failure(A, "x", now)
    assert block is not None and (block.offence, block.until) == (2, 262)


addresses = st.sampled_from(["192.0.2.1", "192.0.2.2", "127.0.0.2", "10.0.0.9", "2001:db8::5"])
events = st.lists(st.tuples(addresses, st.floats(0, 5, allow_nan=False)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events)
def test_properties(steps: list[tuple[str, float]]) -> None:
    t = Tracker(RULES)
    now = 0.0
    seen: dict[str, list[float]] = {}
    for address, gap in steps:
        now += gap
        ended = t.expire(now)
        assert all(until > now for until in t.blocked(now).values())
        assert not set(ended) & set(t.blocked(now))
        was_blocked = address in t.blocked(now)
        seen.setdefault(address, []).append(now)
        block = t.failure(address, "x", now)
        if block is None:
            continue
        # never an exempt address, never one already blocked
        assert not RULES.is_exempt(address) and not was_blocked
        # only with max_failures failures within the window (counted since the last block)
        recent = [x for x in seen[address] if x > now - RULES.window_s]
        assert len(recent) >= RULES.max_failures == block.failures
        seen[address] = []
        # a block lasts between block_s and max_block_s, longer for repeat offenders
        length = RULES.duration(block.offence)
        assert RULES.block_s <= length <= RULES.max_block_s
        assert block.until - block.at == pytest.approx(length)
        assert t.blocked(now)[address] == block.until


@given(st.integers(1, 10_000))
def test_durations_grow_and_are_capped(offence: int) -> None:
    assert RULES.block_s <= RULES.duration(offence) <= RULES.max_block_s
    assert RULES.duration(offence) <= RULES.duration(offence + 1)
