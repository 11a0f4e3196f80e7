"""Arrival rates and the likelihood that calls in progress end soon."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.admission import (
    CallInProgress,
    Samples,
    arrival_rate,
    probability_arrival_soon,
    probability_at_least_k_end,
    probability_call_ends,
    probability_some_call_ends,
)

BIMODAL = Samples.of([300.0] * 50 + [30.0] * 50)
NOW = 1_000.0


def test_samples_are_sorted_once_and_checked() -> None:
    assert Samples.of([3, 1, 2]).values == (1.0, 2.0, 3.0)
    assert Samples.of([3, 1, 2]).mean == 2.0
    with pytest.raises(ValueError):
        Samples((3.0, 1.0))
    with pytest.raises(ValueError):
        Samples((1.0, float("nan")))
    with pytest.raises(ValueError):
        Samples.of([1.0, float("inf")])


@pytest.mark.parametrize(
    ("arrivals", "window", "expected"),
    [
        ((), 60.0, 0.0),
        ((940.0, 950.0, 1000.0), 60.0, 2 / 60),  # (940, 1000]: 940 is out
        ((939.0, 941.0, 999.0, 1000.0), 60.0, 3 / 60),
        ((990.0, 1001.0), 60.0, 1 / 60),  # a future arrival is ignored
        (tuple(float(t) for t in range(100, 1000, 10)), 900.0, 89 / 900),  # 100 is out
    ],
)
def test_arrival_rate_table(arrivals: tuple[float, ...], window: float, expected: float) -> None:
    assert arrival_rate(Samples(arrivals), window, NOW) == pytest.approx(expected)


def test_arrival_rate_needs_a_window() -> None:
    with pytest.raises(ValueError):
        arrival_rate(Samples(), 0.0, NOW)


@pytest.mark.parametrize(
    ("rate", "window", "expected"),
    [
        (0.0, 60.0, 0.0),
        (1 / 60, 60.0, 1 - math.exp(-1)),
        (12 / 900, 60.0, 1 - math.exp(-0.8)),
        (1.0, 0.0, 0.0),
    ],
)
def test_probability_arrival_soon(rate: float, window: float, expected: float) -> None:
    assert probability_arrival_soon(rate, window) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("history", "elapsed", "window", "expected"),
    [
        # P(D <= e + w | D > e) from the empirical distribution
        (BIMODAL, 0.0, 10.0, 0.0),
        (BIMODAL, 25.0, 10.0, 0.5),
        (BIMODAL, 29.0, 1.0, 0.5),
        (BIMODAL, 30.0, 10.0, 0.0),  # the 30 s calls are over: only 300 s calls remain
        (BIMODAL, 40.0, 10.0, 0.0),
        (BIMODAL, 295.0, 10.0, 1.0),
        (BIMODAL, -5.0, 40.0, 0.5),  # clock skew: negative elapsed counts as 0
        (Samples.of(range(1, 101)), 50.0, 10.0, 10 / 50),
        # Fallbacks: older than (almost) all history -> exponential with the history mean;
        (BIMODAL, 310.0, 10.0, 1 - math.exp(-10 / 165)),
        (Samples.of(range(1, 101)), 85.0, 10.0, 1 - math.exp(-10 / 50.5)),  # 15 survivors < 20
        # short history -> exponential with the prior mean (180 s)
        (Samples.of([5.0] * 19), 0.0, 10.0, 1 - math.exp(-10 / 180)),
        (Samples(), 0.0, 10.0, 1 - math.exp(-10 / 180)),
        (BIMODAL, 25.0, 0.0, 0.0),
    ],
)
def test_probability_call_ends_table(
    history: Samples, elapsed: float, window: float, expected: float
) -> None:
    assert probability_call_ends(elapsed, history, window) == pytest.approx(expected)


def test_prior_mean_and_min_history_are_tunable() -> None:
    short = Samples.of([5.0] * 5)
    assert probability_call_ends(0.0, short, 10.0, prior_mean_s=10.0) == pytest.approx(
        1 - math.exp(-1)
    )
    assert probability_call_ends(0.0, short, 10.0, min_history=5) == 1.0


@pytest.mark.parametrize(
    ("elapsed", "k", "expected"),
    [
        ((25.0, 25.0), 1, 0.75),
        ((25.0, 25.0), 2, 0.25),
        ((25.0, 25.0), 3, 0.0),
        ((25.0, 295.0, 40.0), 1, 1.0),
        ((25.0, 295.0, 40.0), 2, 0.5),
        ((40.0, 40.0), 1, 0.0),
        ((), 1, 0.0),
        ((), 0, 1.0),
    ],
)
def test_probability_at_least_k_end_table(
    elapsed: tuple[float, ...], k: int, expected: float
) -> None:
    in_progress = [CallInProgress(NOW - e) for e in elapsed]
    got = probability_at_least_k_end(in_progress, BIMODAL, 10.0, NOW, k)
    assert got == pytest.approx(expected)
    if k == 1:
        assert probability_some_call_ends(in_progress, BIMODAL, 10.0, NOW) == pytest.approx(got)


durations = st.lists(st.floats(0, 1000, allow_nan=False), max_size=80)


@given(history=durations, elapsed=st.floats(-10, 1200, allow_nan=False), window=st.floats(0.1, 300))
def test_empirical_matches_a_direct_count(
    history: list[float], elapsed: float, window: float
) -> None:
    e = max(elapsed, 0.0)
    survivors = [d for d in history if d > e]
    got = probability_call_ends(elapsed, Samples.of(history), window, min_history=1)
    if survivors:
        assert got == pytest.approx(sum(d <= e + window for d in survivors) / len(survivors))
    assert 0.0 <= got <= 1.0


@given(
    history=durations,
    elapsed=st.lists(st.floats(0, 1000, allow_nan=False), max_size=7),
    k=st.integers(0, 8),
)
def test_at_least_k_matches_brute_force(history: list[float], elapsed: list[float], k: int) -> None:
    samples = Samples.of(history)
    in_progress = [CallInProgress(NOW - e) for e in elapsed]
    ps = [probability_call_ends(NOW - c.started_at, samples, 30.0) for c in in_progress]
    brute = 0.0
    for outcome in itertools.product((0, 1), repeat=len(ps)):
        if sum(outcome) >= k:
            brute += math.prod(p if o else 1 - p for p, o in zip(ps, outcome, strict=True))
    got = probability_at_least_k_end(in_progress, samples, 30.0, NOW, k)
    assert got == pytest.approx(brute, abs=1e-9)
    assert got >= probability_at_least_k_end(in_progress, samples, 30.0, NOW, k + 1) - 1e-12
