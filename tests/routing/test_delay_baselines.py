"""The delay-history baselines of the wait prediction bench, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench._delay import DelayHistory, hol, les, ql


def test_les_announces_the_last_wait_to_end_in_service() -> None:
    history = DelayHistory()
    assert les(history.last_entered_wait) == 0.0
    history.entered_service(42.0)
    history.abandon(300.0)  # a caller who hung up does not enter service
    history.entered_service(17.5)
    assert les(history.last_entered_wait) == 17.5


def test_hol_announces_the_head_of_lines_elapsed_wait() -> None:
    assert hol(None, 100.0) == 0.0
    assert hol(40.0, 100.0) == 60.0
    assert hol(120.0, 100.0) == 0.0  # never negative


@pytest.mark.parametrize(
    ("ahead", "servers", "mu", "theta", "expected"),
    [
        (0, 10, 1 / 200, 0.0, 20.0),  # the first of 10 releases, 1/200 s each: 200/10
        (4, 10, 1 / 200, 0.0, 100.0),  # (n + 1) / (s mu)
        (0, 10, 1 / 200, 1 / 100, 20.0),  # nobody ahead to hang up
        # 1 / 0.05 + 1 / (0.05 + 0.01) + 1 / (0.05 + 0.02) = 20 + 16.667 + 14.286
        (2, 10, 1 / 200, 1 / 100, 20 + 50 / 3 + 100 / 7),
        (0, 0, 1 / 60, 0.0, 60.0),  # nobody logged in: counted as one agent coming
    ],
)
def test_ql_with_abandonment_hand_computed(
    ahead: int, servers: int, mu: float, theta: float, expected: float
) -> None:
    assert ql(ahead, servers, mu, theta) == pytest.approx(expected, rel=1e-12)


@given(st.integers(0, 200), st.integers(1, 100), st.floats(1e-4, 1.0), st.floats(1e-5, 1.0))
def test_ql_abandonment_shortens_the_wait_but_never_below_the_next_release(
    ahead: int, servers: int, mu: float, theta: float
) -> None:
    with_abandon = ql(ahead, servers, mu, theta)
    assert with_abandon <= ql(ahead, servers, mu) * (1 + 1e-12)
    assert with_abandon >= 1 / (servers * mu) * (1 - 1e-12)
    assert ql(ahead + 1, servers, mu, theta) > with_abandon


def test_abandon_rate_counts_served_callers_as_censored() -> None:
    history = DelayHistory()
    assert history.abandon_rate() == 0.0
    history.entered_service(30.0)
    history.entered_service(50.0)
    history.abandon(20.0)
    assert history.abandon_rate() == pytest.approx(1 / 100)  # 1 hang-up in 100 s of waiting


def test_ql_refuses_impossible_rates() -> None:
    with pytest.raises(ValueError):
        ql(1, 5, 0.0)
    with pytest.raises(ValueError):
        ql(-1, 5, 0.1)
    assert math.isfinite(ql(10_000, 1, 1e-3, 1e-3))
