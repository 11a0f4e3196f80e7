"""The managed Asterisk's restart policy: a pure function, walked as a table."""

from __future__ import annotations

import pytest

from ccari.pbx.restarts import RestartPolicy, Verdict, after_failure

POLICY = RestartPolicy()  # 0.5 s doubling to 30 s, stable after 60 s, crash loop at 5


@pytest.mark.parametrize(
    ("streak", "ran_s", "expected"),
    [
        # first failure ever, whatever the run
        (0, 0.0, Verdict(1, 0.5, False, False)),
        (0, 3600.0, Verdict(1, 0.5, False, False)),
        # quick failures double the delay
        (1, 2.0, Verdict(2, 1.0, False, False)),
        (2, 2.0, Verdict(3, 2.0, False, False)),
        (3, 59.9, Verdict(4, 4.0, False, False)),
        # the fifth in a row is a crash loop: the cap at once, announced once
        (4, 0.0, Verdict(5, 30.0, True, True)),
        (5, 0.0, Verdict(6, 30.0, True, False)),
        (40, 1.0, Verdict(41, 30.0, True, False)),
        # a run of stable_after_s or more starts a new streak, even out of a crash loop
        (4, 60.0, Verdict(1, 0.5, False, False)),
        (41, 61.0, Verdict(1, 0.5, False, False)),
    ],
)
def test_verdict_table(streak: int, ran_s: float, expected: Verdict) -> None:
    assert after_failure(POLICY, streak, ran_s) == expected


def test_a_crash_loop_never_spins_and_backs_off_to_the_cap() -> None:
    policy = RestartPolicy(initial_s=0.5, factor=2, cap_s=3.0, crash_loop_after=10)
    delays, streak = [], 0
    for _ in range(12):
        verdict = after_failure(policy, streak, 0.0)
        delays.append(verdict.delay_s)
        streak = verdict.streak
    # doubling, held at the cap before the crash loop, then the cap
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert min(delays) >= policy.initial_s
    entered = [after_failure(policy, n, 0.0).entered_crash_loop for n in range(12)]
    assert entered.count(True) == 1 and entered.index(True) == 9


def test_the_verdict_says_what_it_is() -> None:
    assert after_failure(POLICY, 1, 0.0).describe() == "quick failure 2 in a row"
    assert "crash loop (7 quick failures in a row)" in after_failure(POLICY, 6, 0.0).describe()


@pytest.mark.parametrize("bad", [
    {"initial_s": 0}, {"initial_s": 40.0}, {"factor": 0.5}, {"stable_after_s": 0},
    {"crash_loop_after": 0},
])
def test_invalid_policies_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid restart policy"):
        RestartPolicy(**bad)  # type: ignore[arg-type]
