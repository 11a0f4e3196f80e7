"""The pure core of the edge: weights from the calls each node carries, attributes kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.edge.weights import (
    MAX_WEIGHT,
    MIN_WEIGHT,
    Destination,
    format_attrs,
    int_attr,
    parse_attrs,
    plan,
    rweight,
    with_attr,
)


@pytest.mark.parametrize(("calls", "capacity", "weight"), [
    (0, 30, 100),     # idle: all of it
    (15, 30, 50),     # half full: half
    (29, 30, 3),      # one call free of 30: 3.3 -> 3
    (30, 30, 1),      # full: the minimum, never 0 (0 is not a weight Kamailio takes)
    (45, 30, 1),      # over-full (capacity lowered meanwhile): the minimum
    (9, 10, 10),
    (1, 200, 100),    # 99.5 rounds half up
    (3, 200, 99),     # 98.5 -> 99
    (199, 200, 1),    # 0.5 -> 1
    (0, 1, 100),
    (1, 1, 1),
])
def test_weight_by_free_capacity(calls: int, capacity: int, weight: int) -> None:
    assert rweight(calls, capacity) == weight


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        rweight(0, 0)


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 500))
def test_more_free_capacity_never_weighs_less(x: int, y: int, capacity: int) -> None:
    fewer, more = sorted((x, y))
    assert MIN_WEIGHT <= rweight(more, capacity) <= rweight(fewer, capacity) <= MAX_WEIGHT


@given(st.integers(1, 500), st.integers(0, 1000))
def test_idle_weighs_most_full_weighs_least(capacity: int, extra: int) -> None:
    assert rweight(0, capacity) == MAX_WEIGHT
    assert rweight(capacity + extra, capacity) == MIN_WEIGHT


@given(st.integers(0, 500), st.integers(1, 500))
def test_the_weight_is_the_free_share_rounded(calls: int, capacity: int) -> None:
    share = 100 * max(0, capacity - calls) / capacity
    assert abs(rweight(calls, capacity) - max(1.0, share)) <= 0.5


@pytest.mark.parametrize(("attrs", "parsed"), [
    ("", {}),
    ("rweight=50", {"rweight": "50"}),
    ("duid=abc; rweight=5;maxload=20", {"duid": "abc", "rweight": "5", "maxload": "20"}),
    ("flag;rweight=1;", {"flag": "", "rweight": "1"}),
])
def test_attributes_parse_and_format_back(attrs: str, parsed: dict[str, str]) -> None:
    assert parse_attrs(attrs) == parsed
    assert parse_attrs(format_attrs(parsed)) == parsed


def test_setting_an_attribute_keeps_the_others_in_their_order() -> None:
    assert with_attr("duid=x;rweight=5;socket=udp:1.2.3.4:5060", "rweight", 80) == \
        "duid=x;rweight=80;socket=udp:1.2.3.4:5060"
    assert with_attr("duid=x", "rweight", 7) == "duid=x;rweight=7"
    assert int_attr("rweight=abc", "rweight") is None
    assert int_attr("capacity=12", "capacity") == 12


def test_the_plan_changes_only_the_weights_that_move() -> None:
    rows = [Destination(1, "a", "rweight=100;capacity=10"),   # a: 9 of 10 -> 10
            Destination(2, "b", "rweight=100;capacity=10"),   # b: idle, unchanged
            Destination(3, "c", "duid=c"),                    # no capacity: the default (20)
            Destination(4, "d", "rweight=1;capacity=0")]      # a bad capacity: the default
    assert plan(rows, {"a": 9, "c": 5, "d": 20, "x": 3}, default_capacity=20) == {
        1: "rweight=10;capacity=10",
        3: "duid=c;rweight=75",
    }


@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 60)), st.integers(1, 50))
def test_applying_the_plan_leaves_nothing_to_change(calls: dict[str, int], capacity: int) -> None:
    rows = [Destination(i, node, f"rweight=50;capacity={capacity}")
            for i, node in enumerate("abcdef")]
    changes = plan(rows, calls, default_capacity=1)
    applied = [Destination(d.id, d.node, changes.get(d.id, d.attrs)) for d in rows]
    assert plan(applied, calls, default_capacity=1) == {}
    for d in applied:
        assert int_attr(d.attrs, "rweight") == rweight(calls.get(d.node, 0), capacity)
