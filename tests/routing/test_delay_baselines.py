"""The delay-history baselines of the wait prediction bench, on hand-computed cases, and the
yardstick it measures them against."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import _bound as bound
from bench._delay import DelayHistory, hol, les, ql
from bench._scenarios import SCENARIOS, Law, Scenario
from ccari.routing import Router, WorkItem

from .helpers import T, agent, item


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


# -- the yardstick: the state known exactly and the simulator's laws ---------------------------

def _one_agent_busy(ahead: int) -> tuple[Router, WorkItem]:
    """Agent A in a call since 0; ``ahead`` callers waiting since 10, the caller since 50."""
    router = Router()
    router.agent_login(agent("A", "s"), 0.0, ready=True)
    router.add_item(item("busy", "s", at=0.0), 0.0)
    router.accept("busy", 0.0)
    for n in range(ahead):
        router.add_item(item(f"w{n}", "s", at=10.0), 10.0)
    caller = item("x", "s", at=50.0)
    router.add_item(caller, 50.0)
    return router, caller


@pytest.mark.parametrize(
    ("ahead", "patience", "expected"),
    [
        (0, None, 100 * math.log(2)),  # the median of an exponential call's rest
        (1, None, 167.8),  # the median of two: Erlang(2, 100)
        # Hanging up at rate 1/100 too: the callers who are served waited Exp(mean 50).
        (0, Law(100.0), 50 * math.log(2)),
    ],
)
def test_the_yardstick_replays_the_future_from_the_state(
    ahead: int, patience: Law | None, expected: float
) -> None:
    scenario = Scenario("t", [(1, ["s"])], 1.0, lambda t, s: 1.0, 1.0, patience=patience,
                        handle=(("s", Law(100.0)),))
    assert bound.replayable(scenario)
    router, caller = _one_agent_busy(ahead)
    medians = [bound.predict(scenario, router, T, caller, lambda _: 0.0, 50.0, random.Random(n))
               for n in range(40)]
    assert sum(medians) / len(medians) == pytest.approx(expected, rel=0.05)


def test_the_yardstick_only_replays_what_it_can() -> None:
    names = {s.name for s in SCENARIOS if bound.replayable(s)}
    assert names == {"day", "patience-exp", "patience-lognormal"}


@given(st.floats(0, 5000), st.integers(0, 2**32))
def test_a_law_draws_the_rest_of_a_duration_already_under_way(elapsed: float, seed: int) -> None:
    rng = random.Random(seed)
    for law in (Law(360.0, 0.9), Law(180.0)):
        rest = law.rest(rng, elapsed)
        assert 0.0 <= rest < math.inf


def test_the_rest_of_a_lognormal_duration_has_the_conditional_law() -> None:
    """Past 600 s, a log-normal(mean 360, sigma 0.9) call ends before its conditional median."""
    law = Law(360.0, 0.9)
    normal = NormalDist(math.log(360.0) - 0.9**2 / 2, 0.9)
    median = math.exp(normal.inv_cdf((normal.cdf(math.log(600.0)) + 1) / 2))
    rng = random.Random(1)
    ends = sorted(600.0 + law.rest(rng, 600.0) for _ in range(4001))
    assert ends[2000] == pytest.approx(median, rel=0.03)
    assert law.rest(rng, 0.0) >= 0.0
