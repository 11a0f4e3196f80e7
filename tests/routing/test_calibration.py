"""The wait predictor learns from outcomes: the arithmetic, then the router on known histories."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.routing import Medium, Router
from ccari.routing.calibration import Calibration, Key

from .helpers import T, agent, item

KEY: Key = (T, Medium.VOICE, "skill=s")
OTHER: Key = (T, Medium.VOICE, "skill=t")


def _learnt(pairs: list[tuple[float, float]], **kwargs: int) -> Calibration:
    """A calibration that saw items predicted ``p`` served after ``w`` seconds."""
    calibration = Calibration(**kwargs)
    for n, (predicted, waited) in enumerate(pairs):
        calibration.note(f"i{n}", KEY, predicted, 0.0)
        calibration.served(f"i{n}", waited)
    return calibration


def test_the_model_is_kept_until_enough_outcomes_are_known() -> None:
    calibration = _learnt([(100.0, 50.0)] * 39, min_samples=40)
    assert calibration.correct(KEY, 100.0) == 100.0
    calibration = _learnt([(100.0, 50.0)] * 40, min_samples=40)
    assert calibration.correct(KEY, 100.0) == pytest.approx(50.0)
    assert calibration.correct(OTHER, 100.0) == 100.0  # another skill learns on its own
    assert calibration.correct(KEY, 0.5) == 0.5  # an agent frees now: nothing to correct
    assert calibration.correct(KEY, math.inf) == math.inf


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        (10.0, 10.0),  # short predictions were right
        (12.0, 12.0),
        (400.0, 200.0),  # long ones were twice too long
        (1000.0, 500.0),
    ],
)
def test_the_correction_comes_from_predictions_of_the_same_size(
    predicted: float, expected: float
) -> None:
    history = [(10.0 + n % 5, 10.0 + n % 5) for n in range(100)]
    history += [(400.0 + n, (400.0 + n) / 2) for n in range(100)]
    calibration = _learnt(history, neighbours=60, min_samples=40)
    assert calibration.correct(KEY, predicted) == pytest.approx(expected)


def test_the_median_ratio_resists_outliers() -> None:
    history = [(100.0, 80.0)] * 45 + [(100.0, 5000.0)] * 15
    assert _learnt(history, min_samples=40).correct(KEY, 100.0) == pytest.approx(80.0)


def test_items_that_leave_unserved_teach_nothing_and_old_outcomes_are_forgotten() -> None:
    calibration = Calibration(window=50, min_samples=40)
    for n in range(60):
        calibration.note(f"gone{n}", KEY, 100.0, 0.0)
        calibration.forget(f"gone{n}")
        calibration.served(f"gone{n}", 10.0)  # too late: it was forgotten
    assert calibration.samples(KEY) == 0
    for n in range(50):
        calibration.note(f"old{n}", KEY, 100.0, 0.0)
        calibration.note(f"old{n}", KEY, 999.0, 5.0)  # only the first prediction counts
        calibration.served(f"old{n}", 300.0)
    assert calibration.correct(KEY, 100.0) == pytest.approx(300.0)
    for n in range(50):
        calibration.note(f"new{n}", KEY, 100.0, 0.0)
        calibration.served(f"new{n}", 60.0)
    assert calibration.samples(KEY) == 50
    assert calibration.correct(KEY, 100.0) == pytest.approx(60.0)


@given(
    st.lists(st.tuples(st.floats(1, 1e5), st.floats(0, 1e5, allow_subnormal=False)),
             min_size=1, max_size=120),
    st.floats(1, 1e5),
    st.integers(1, 80),
)
def test_the_corrected_wait_stays_within_the_ratios_seen(
    history: list[tuple[float, float]], predicted: float, neighbours: int
) -> None:
    calibration = _learnt(history, neighbours=neighbours, min_samples=1)
    ratios = [w / p for p, w in history]
    corrected = calibration.correct(KEY, predicted)
    assert min(ratios) * predicted * (1 - 1e-9) <= corrected
    assert corrected <= max(ratios) * predicted * (1 + 1e-9)
    if neighbours >= len(history):  # everything is a neighbour: the median of all ratios
        ordered = sorted(ratios)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        assert corrected == pytest.approx(median * predicted)


@given(st.lists(st.floats(1, 1e5), min_size=40, max_size=100), st.floats(0.05, 5), st.floats(1, 1e5))
def test_a_constant_bias_is_removed_whatever_the_sizes(
    predictions: list[float], ratio: float, predicted: float
) -> None:
    calibration = _learnt([(p, p * ratio) for p in predictions], min_samples=40)
    assert calibration.correct(KEY, predicted) == pytest.approx(predicted * ratio)


def _cycles(router: Router, count: int, *, served: bool) -> float:
    """Agent A takes a call at each 100 s mark that lasts 50 s; a caller queued behind it is
    asked its wait on arrival, then is served at 50 s (``served``) or hangs up at 20 s."""
    now = 0.0
    for n in range(count):
        now = 100.0 * n
        router.add_item(item(f"c{n}", "s", at=now), now)
        router.accept(f"c{n}", now)
        router.add_item(item(f"w{n}", "s", at=now), now)
        router.predicted_wait(f"w{n}", now)
        if not served:
            router.remove_item(f"w{n}", now + 20.0)
        router.complete(f"c{n}", now + 50.0)
        if served:
            router.accept(f"w{n}", now + 50.0)
            router.remove_item(f"w{n}", now + 50.0)  # ends unrecorded: the handle times stay
    return now + 100.0


def _router(history: list[float]) -> Router:
    router = Router()
    for seconds in history:
        router.record_handle_time(T, Medium.VOICE, "skill=s", seconds)
    router.agent_login(agent("A", "s"), 0.0, ready=True)
    return router


def _asked(router: Router, now: float) -> float:
    """The wait announced to a caller queued behind a call that just started."""
    router.add_item(item("busy", "s", at=now), now)
    router.accept("busy", now)
    router.add_item(item("x", "s", at=now), now)
    return router.predicted_wait("x", now).wait


def test_the_announced_wait_learns_from_the_waits_callers_had() -> None:
    """The handle times on record say 100 s, calls now last 50 s: after 60 callers served
    after 50 s each, the next one hears about 50 s, where a router that did not see them
    (the same handle times on record) still announces what the handle times say."""
    history = [100.0] * 400
    learning = _router(history)
    now = _cycles(learning, 60, served=True)
    naive = _router([*history[60:], *[50.0] * 60])  # the same handle-time window
    assert _asked(naive, now) > 90.0
    assert _asked(learning, now) == pytest.approx(50.0, abs=1.0)


def test_callers_who_hang_up_teach_nothing() -> None:
    history = [100.0] * 400
    router = _router(history)
    now = _cycles(router, 60, served=False)
    naive = _router([*history[60:], *[50.0] * 60])
    assert _asked(router, now) == pytest.approx(_asked(naive, now))
