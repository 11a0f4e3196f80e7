"""When to call, what an attempt's outcome means, and whether to try again.  Pure, no I/O.

* A request for ``"now"`` may be placed at once; a request for a time is placed from that
  time on.  Either way the callback has a **window** (the tenant's ``window_s`` after its
  first possible time): no attempt is started after it closes.
* Each attempt ends with a **result** derived from the hang-up cause Asterisk reports
  (Q.850: 17 busy, 18/19/20 no answer, 21 rejected, 1/3/28 the number does not exist...),
  or from what ccari saw (``not-confirmed``: answered, but nobody pressed 1 - often an
  answering machine; ``unknown``: ccari lost track of the call, e.g. it was restarted
  while the phone rang and the channel was gone when it came back).
* After a failed attempt the next one comes after an exponential **backoff**
  (``retry_after_s * retry_factor ** (tries - 1)``, capped at ``retry_max_s``), unless the
  callback has used ``max_tries``, the next time would fall after the window, or the
  result says the number cannot be reached at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Result = Literal["answered", "busy", "no-answer", "rejected", "unreachable", "failed", "unknown",
                 "not-confirmed", "agent-gone", "cancelled"]
# Results after which calling again is pointless.
FINAL_RESULTS = frozenset({"unreachable"})

BUSY = frozenset({17})
NO_ANSWER = frozenset({18, 19, 20})
REJECTED = frozenset({21})
UNREACHABLE = frozenset({1, 3, 22, 28})


def result_for_cause(cause: int | None) -> Result:
    """What an attempt that ended before the customer answered means (Q.850 cause)."""
    if cause in BUSY:
        return "busy"
    if cause in NO_ANSWER:
        return "no-answer"
    if cause in REJECTED:
        return "rejected"
    if cause in UNREACHABLE:
        return "unreachable"
    return "failed"


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 3
    retry_after_s: float = 120.0
    retry_factor: float = 2.0
    retry_max_s: float = 1800.0

    def backoff(self, tries: int) -> float:
        """Seconds between attempt ``tries`` (1-based) ending and the next one starting."""
        if tries < 1:
            return 0.0
        return min(self.retry_max_s, self.retry_after_s * self.retry_factor ** (tries - 1))


@dataclass(frozen=True)
class Next:
    """What happens to a callback after an attempt: another try at ``at``, or the end."""

    status: Literal["pending", "failed"]
    at: dt.datetime | None = None
    reason: str = ""


def after_attempt(policy: RetryPolicy, *, tries: int, max_tries: int, result: str,
                  now: dt.datetime, window_end: dt.datetime) -> Next:
    """Decide after attempt number ``tries`` ended with ``result`` (not answered)."""
    if result in FINAL_RESULTS:
        return Next("failed", reason=f"callback-{result}")
    if tries >= max_tries:
        return Next("failed", reason="callback-max-tries")
    at = now + dt.timedelta(seconds=policy.backoff(tries))
    if at > window_end:
        return Next("failed", reason="callback-window-closed")
    return Next("pending", at, result)


def window(when: dt.datetime | None, now: dt.datetime, window_s: float) -> tuple[dt.datetime, dt.datetime]:
    """(first possible time, window end) of a callback asked for ``when`` (None: now)."""
    start = now if when is None or when < now else when
    return start, start + dt.timedelta(seconds=window_s)


def rescheduled(when: dt.datetime, now: dt.datetime, window_end: dt.datetime,
                window_s: float) -> tuple[dt.datetime, dt.datetime]:
    """(next attempt time, window end) after a supervisor moves a callback to ``when``: the
    window is stretched when the new time falls after it."""
    at = max(when, now)
    return at, (at + dt.timedelta(seconds=window_s) if at >= window_end else window_end)


def is_due(next_attempt_at: dt.datetime | None, now: dt.datetime) -> bool:
    return next_attempt_at is not None and next_attempt_at <= now
