"""Wait prediction: the arithmetic, then the router's predictions on small known states."""

from __future__ import annotations

import heapq
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.routing import (
    AppQueueHoldtime,
    Medium,
    QueueRule,
    RelaxationStep,
    Router,
    Rules,
    erlang_c,
    erlang_c_wait,
    skill_of,
)
from ccari.routing.prediction import HandleTimes, Samples
from ccari.routing.releases import Outlook, ReleaseModel
from ccari.routing.waits import share_left

from .helpers import T, agent, item


def _erlang_c_by_definition(n: int, a: float) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (2, 1.5), (10, 8.0), (25, 20.0), (50, 49.0)])
def test_erlang_c_matches_its_definition(n: int, a: float) -> None:
    assert erlang_c(n, a) == pytest.approx(_erlang_c_by_definition(n, a), rel=1e-9)


def test_erlang_c_reference_values() -> None:
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    # 10 agents, 8 erlangs of 180 s calls: ASA = C * h / (N - A)
    assert erlang_c_wait(10, 8.0 / 180, 180) == pytest.approx(0.4092 * 180 / 2, rel=1e-3)
    assert erlang_c_wait(10, 10.0 / 180, 180) == math.inf
    assert erlang_c_wait(0, 0.1, 180) == math.inf
    assert erlang_c(5, 0.0) == 0.0


def test_app_queue_holdtime_is_asterisks_integer_average() -> None:
    estimator = AppQueueHoldtime()
    for waited, expected in [(40.9, 10), (40, 17), (0, 12), (100, 34)]:
        estimator.record(waited)
        assert estimator.holdtime == expected
    assert estimator.estimate(4.0) == 30.0
    assert estimator.estimate(99.0) == 0.0


def test_exponential_handle_times_give_the_m_m_n_answer() -> None:
    """Exponential durations: k releases of N busy slots are expected at k * h / N."""
    model = ReleaseModel([Outlook(mean=120.0)] * 4, 120.0, 1.0)
    assert model.expected(60.0) == pytest.approx(2.0)
    assert model.time_for(3.0, precision=1e-6) == pytest.approx(90.0, abs=1e-5)
    assert model.median_start(0) == pytest.approx(2 / 3 * 30.0, abs=0.5)


@given(
    st.lists(st.floats(0, 1000), min_size=1, max_size=6),
    st.floats(1, 300),
    st.integers(0, 40),
)
def test_fixed_durations_give_the_merged_release_times(
    residuals: list[float], handle: float, ahead: int
) -> None:
    """Fixed durations (no variation): the ``ahead``-th release of the merged sequences."""
    heap = list(residuals)
    heapq.heapify(heap)
    for _ in range(ahead):
        heapq.heapreplace(heap, heap[0] + handle)
    model = ReleaseModel([Outlook(fixed=r) for r in residuals], handle, 0.0)
    assert model.median_start(ahead) == pytest.approx(heap[0], abs=0.5)


def test_fewer_agents_at_work_fewer_releases() -> None:
    slots = [Outlook(mean=100.0)] * 3
    always = ReleaseModel(slots, 100.0, 1.0)
    breaks = ReleaseModel(slots, 100.0, 1.0, availability=0.5, switch_rate=1 / 50)
    assert breaks.expected(10.0) < always.expected(10.0)
    assert breaks.median_start(5) > always.median_start(5)
    assert ReleaseModel([], 100.0, 1.0).median_start(0) == math.inf


def test_residual_life_from_samples() -> None:
    samples = Samples(10)
    for seconds in (10, 20, 30, 40):
        samples.add(seconds)
    # Past 15 s, the calls left last 20, 30 or 40 s: 5, 15 or 25 s to go.
    assert samples.residual(15) == pytest.approx(15.0)
    assert samples.remaining(15, 10) == pytest.approx((1 / 3, 5 / 3))
    assert samples.remaining(15, 30) == pytest.approx((1.0, (25 + 15 + 5) / 3))
    assert samples.cv2() == pytest.approx(125 / 625)
    assert share_left(0.0) == 1.0
    assert share_left(2.0) == pytest.approx((1 - math.exp(-2)) / 2)


def test_handle_time_statistics() -> None:
    stats = HandleTimes(window=6)
    assert stats.mean(T, Medium.VOICE, "skill=s") is None
    for seconds in (60, 60, 60, 60, 120):
        stats.record(T, Medium.VOICE, "skill=s", seconds)
    assert stats.mean(T, Medium.VOICE, "skill=s") == 72
    # Mean residual life: after 90 s only the 120 s call is left, 30 s to go.
    assert stats.residual(T, Medium.VOICE, "skill=s", 90) == 30
    assert stats.residual(T, Medium.VOICE, "skill=s", 0) == 72
    # Too few samples for another skill: the tenant's aggregate for the medium is used.
    assert stats.mean(T, Medium.VOICE, "skill=t") == 72
    for _ in range(6):
        stats.record(T, Medium.VOICE, "skill=s", 30)
    assert stats.mean(T, Medium.VOICE, "skill=s") == 30  # the window forgot the old ones
    with pytest.raises(ValueError):
        stats.record(T, Medium.VOICE, "skill=s", -1)


def _busy_router(agents: int, elapsed: float, rules: Rules | None = None) -> Router:
    """``agents`` voice agents with skill s, each in a call for ``elapsed`` s; AHT 100 s."""
    router = Router(rules)
    for _ in range(20):
        router.record_handle_time(T, Medium.VOICE, "skill=s", 100.0)
    for n in range(agents):
        router.agent_login(agent(f"a{n}", "s"), 0.0, ready=True)
        router.add_item(item(f"busy{n}", "s"), 0.0)
        router.accept(f"busy{n}", 0.0)
    router.tick(elapsed)
    return router


def test_predicted_wait_follows_the_slots_and_the_position() -> None:
    router = _busy_router(2, 40.0)
    for n in range(5):
        router.add_item(item(f"w{n}", "s", at=40.0 + n), 45.0)
    waits = [router.predicted_wait(f"w{n}", 45.0) for n in range(5)]
    # Every call lasts exactly 100 s: both agents free at 100, then every 100 s.
    assert [w.wait for w in waits] == pytest.approx([55, 55, 155, 155, 255], abs=0.5)
    assert [w.position for w in waits] == [1, 2, 3, 4, 5]
    assert {(w.eligible_agents, w.available_agents) for w in waits} == {(2, 0)}
    assert router.predicted_waits(T, 45.0) == {w.item_id: w for w in waits}


def test_more_agents_shorter_wait_and_offered_items_wait_zero() -> None:
    few, many = _busy_router(1, 10.0), _busy_router(4, 10.0)
    for router in (few, many):
        router.add_item(item("w", "s", at=10.0), 10.0)
    assert many.predicted_wait("w", 10.0).wait <= few.predicted_wait("w", 10.0).wait
    router = Router()
    router.agent_login(agent("A", "s"), 0.0, ready=True)
    router.add_item(item("x", "s"), 0.0)
    assert router.predicted_wait("x", 0.0).wait == 0.0


def test_items_for_other_agents_do_not_count() -> None:
    router = _busy_router(1, 10.0)
    router.agent_login(agent("B", "t"), 0.0)
    router.agent_ready("B", 10.0)
    router.add_item(item("busyB", "t"), 10.0)
    router.accept("busyB", 10.0)
    for n in range(3):
        router.add_item(item(f"t{n}", "t", at=float(n)), 10.0)  # older, but only B's
    router.add_item(item("s0", "s", at=10.0), 10.0)
    assert router.position("s0") == 1
    assert router.position("t2") == 3
    assert router.predicted_wait("s0", 10.0).wait == pytest.approx(90.0, abs=0.5)


def test_relaxation_is_part_of_the_prediction() -> None:
    rules = Rules(default=QueueRule(steps=(RelaxationStep(30, relax=frozenset({"skill"})),)))
    router = _busy_router(1, 10.0, rules)  # agent a0 has skill s, in a call, 90 s to go
    router.add_item(item("x", "nobody-has-it", at=10.0), 10.0)
    prediction = router.predicted_wait("x", 10.0)
    assert prediction.eligible_agents == 0
    assert prediction.wait == pytest.approx(90.0, abs=0.5)  # relaxed at 40 s, a0 frees at 100 s
    assert skill_of(item("x", "b", "a")) == "skill=a,skill=b"


def test_agents_on_a_break_are_expected_back() -> None:
    router = Router()
    router.agent_login(agent("A", "s"), 0.0, ready=True)
    now = 0.0
    for _ in range(6):  # the router learns: 300 s of work, then 100 s away
        now += 300.0
        router.agent_not_ready("A", now)
        now += 100.0
        router.agent_ready("A", now)
    router.agent_not_ready("A", now + 10.0)
    router.add_item(item("x", "s", at=now + 40.0), now + 40.0)
    prediction = router.predicted_wait("x", now + 40.0)
    assert prediction.eligible_agents == 0
    assert prediction.wait == pytest.approx(70.0, abs=1.0)  # back 100 s after leaving


def test_callers_ahead_who_hang_up_shorten_the_wait() -> None:
    patient, impatient = _busy_router(2, 10.0), _busy_router(2, 10.0)
    for n in range(20):  # one in two callers used to hang up after 60 s
        impatient.add_item(item(f"gone{n}", "s", at=10.0), 10.0)
        if n % 2:
            impatient.remove_item(f"gone{n}", 70.0)
    for router in (patient, impatient):
        for n in range(6):
            router.add_item(item(f"w{n}", "s", at=80.0 + n), 90.0)
    assert impatient.predicted_wait("w5", 90.0).wait < patient.predicted_wait("w5", 90.0).wait


def test_predict_new_is_the_prediction_the_item_would_get_and_changes_nothing() -> None:
    from tests.routing.helpers import agent, item

    router = Router()
    router.agent_login(agent("A", "sales"), 0.0, ready=True)
    router.add_item(item("busy", "sales", at=0.0), 0.0)  # A takes it
    router.accept("busy", 1.0)
    router.add_item(item("w1", "sales", at=2.0), 2.0)
    before = router.snapshot()
    probe = item("new", "sales", at=5.0)
    guess = router.predict_new(probe, 5.0)
    assert router.snapshot() == before
    router.add_item(probe, 5.0)
    actual = router.predicted_wait("new", 5.0)
    assert guess.position == actual.position == 2
    assert guess.wait == pytest.approx(actual.wait)


def _samples(durations: list[float]) -> Samples:
    samples = Samples(len(durations))
    for seconds in durations:
        samples.add(seconds)
    return samples


def _renewals_by(durations: list[float], u: float, paths: int = 20000) -> float:
    """Mean number of renewals by ``u`` of a slot starting now, each duration drawn from
    ``durations`` (Monte Carlo with a fixed seed)."""
    rng = random.Random(5)
    total = 0
    for _ in range(paths):
        t = rng.choice(durations)
        while t <= u:
            total += 1
            t += rng.choice(durations)
    return total / paths


# Many short calls and a long tail: 80% last 50 to 150 s, 20% 600 to 1400 s; mean 280 s.
SHORT_AND_LONG = [50 + k * 100 / 79 for k in range(80)] + [600 + k * 800 / 19 for k in range(20)]
CV2 = 1.81


@pytest.mark.parametrize("u", [50.0, 150.0, 400.0, 900.0, 1200.0, 2500.0])
def test_the_renewal_excess_is_the_renewal_function_beyond_the_fluid(u: float) -> None:
    samples = _samples(SHORT_AND_LONG)
    assert samples.cv2() == pytest.approx(CV2, abs=0.005)
    expected = _renewals_by(SHORT_AND_LONG, u) - u / samples.mean()
    assert samples.renewal_excess(u) == pytest.approx(expected, abs=0.12)


def test_the_renewal_excess_tends_to_its_limit_and_is_nil_for_exponential_durations() -> None:
    samples = _samples(SHORT_AND_LONG)
    assert samples.renewal_excess(5 * 280.0) == pytest.approx((CV2 - 1) / 2, abs=0.1)
    exponential = _samples([-120.0 * math.log(1 - (k + 0.5) / 400) for k in range(400)])
    assert max(abs(exponential.renewal_excess(u)) for u in range(0, 1000, 50)) < 0.07
    samples.add(50.0)  # the table follows the samples
    assert samples.renewal_excess(5 * 280.0) != pytest.approx((CV2 - 1) / 2, abs=1e-6)


def test_variable_handle_times_free_slots_sooner_than_the_fluid_says() -> None:
    """20 slots starting calls now, 80 callers ahead: with many short calls and a long tail
    the 81st release comes sooner than ``81 * mean / 20`` (the fluid), as a simulation of
    the same durations finds it."""
    samples = _samples(SHORT_AND_LONG)
    slots = [Outlook(samples=samples)] * 20
    fluid = ReleaseModel(slots, samples.mean(), 1.0)
    renewal = ReleaseModel(slots, samples.mean(), samples.cv2(), samples=samples)
    rng = random.Random(3)
    starts = []
    for _ in range(2000):
        heap = [rng.choice(SHORT_AND_LONG) for _ in range(20)]
        heapq.heapify(heap)
        for _ in range(80):
            heapq.heapreplace(heap, heap[0] + rng.choice(SHORT_AND_LONG))
        starts.append(heap[0])
    simulated = sorted(starts)[len(starts) // 2]
    assert renewal.median_start(80) < fluid.median_start(80)
    assert abs(renewal.median_start(80) - simulated) < abs(fluid.median_start(80) - simulated)
    assert renewal.median_start(80) == pytest.approx(simulated, rel=0.05)
