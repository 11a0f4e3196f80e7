"""When to restart a managed Asterisk that died: a pure backoff policy (no I/O, no clock).

:func:`after_failure` takes how many quick failures came just before and how long the
process ran, and returns the :class:`Verdict`: the delay before the next start and whether
ccari is now in a crash loop.  With the defaults:

===================================  ======  ==========  ==============================
failure                              streak  delay (s)   crash loop
===================================  ======  ==========  ==============================
after a run of >= ``stable_after_s``   1       0.5        no (the streak starts over)
1st quick failure                      1       0.5        no
2nd, 3rd, 4th in a row                 2-4     1, 2, 4    no
5th in a row (``crash_loop_after``)    5       30 (cap)   yes, announced once
6th and later                          6+      30 (cap)   yes
===================================  ======  ==========  ==============================

A start that fails (Asterisk exits while booting, a port is taken) is a quick failure
with a run of 0 s.  There is no jitter: one process restarts one Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    # A process that stayed up this long was healthy: its death starts a new streak.
    stable_after_s: float = 60.0
    # This many quick failures in a row is a crash loop: retry at the cap, and say so.
    crash_loop_after: int = 5

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.cap_s and self.factor >= 1
                and self.stable_after_s > 0 and self.crash_loop_after >= 1):
            raise ValueError(f"invalid restart policy {self!r}")


@dataclass(frozen=True)
class Verdict:
    streak: int  # quick failures in a row, this one included
    delay_s: float  # wait this long before starting Asterisk again
    crash_loop: bool  # streak >= crash_loop_after: retrying at the cap
    entered_crash_loop: bool  # this failure is the one that made it a crash loop

    def describe(self) -> str:
        if self.crash_loop:
            return f"crash loop ({self.streak} quick failures in a row), retrying at the cap"
        return f"quick failure {self.streak} in a row"


def after_failure(policy: RestartPolicy, streak: int, ran_s: float) -> Verdict:
    """The verdict on a failure that ended a run of ``ran_s`` seconds, ``streak`` quick
    failures having come just before it (0 when the last start held)."""
    streak = 1 if ran_s >= policy.stable_after_s else max(0, streak) + 1
    crash_loop = streak >= policy.crash_loop_after
    delay = policy.cap_s if crash_loop else min(
        policy.cap_s, policy.initial_s * policy.factor ** min(streak - 1, 64))
    return Verdict(streak, delay, crash_loop, crash_loop and streak == policy.crash_loop_after)
