"""Retries, backoff and windows, as tables; and the rate limits."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.callbacks.limits import Buckets, Limiter, Limits, Rate
from ccari.callbacks.schedule import RetryPolicy, after_attempt, is_due, rescheduled, result_for_cause, window
from ccari.errors import TooManyRequests

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_tries=4, retry_after_s=60, retry_factor=2, retry_max_s=300)


def s(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(("cause", "result"), [
    (17, "busy"), (18, "no-answer"), (19, "no-answer"), (20, "no-answer"), (21, "rejected"),
    (1, "unreachable"), (28, "unreachable"), (16, "failed"), (34, "failed"), (None, "failed"),
])
def test_hangup_causes(cause: int | None, result: str) -> None:
    assert result_for_cause(cause) == result


@pytest.mark.parametrize(("tries", "seconds"), [(0, 0), (1, 60), (2, 120), (3, 240), (4, 300), (9, 300)])
def test_exponential_backoff_is_capped(tries: int, seconds: float) -> None:
    assert POLICY.backoff(tries) == seconds


@pytest.mark.parametrize(("tries", "result", "window_end", "status", "at", "reason"), [
    (1, "busy", s(3600), "pending", s(60), "busy"),
    (2, "no-answer", s(3600), "pending", s(120), "no-answer"),
    (3, "not-confirmed", s(3600), "pending", s(240), "not-confirmed"),
    (3, "unknown", s(3600), "pending", s(240), "unknown"),  # lost track: the NEXT attempt
    (4, "busy", s(3600), "failed", None, "callback-max-tries"),
    (1, "busy", s(30), "failed", None, "callback-window-closed"),  # next try after the window
    (1, "busy", s(60), "pending", s(60), "busy"),  # exactly at the end is still inside
    (1, "unreachable", s(3600), "failed", None, "callback-unreachable"),  # no such number
])
def test_after_an_attempt(tries: int, result: str, window_end: dt.datetime, status: str,
                          at: dt.datetime | None, reason: str) -> None:
    nxt = after_attempt(POLICY, tries=tries, max_tries=4, result=result, now=T0, window_end=window_end)
    assert (nxt.status, nxt.at, nxt.reason) == (status, at, reason)


def test_window_starts_now_or_at_the_chosen_time() -> None:
    assert window(None, T0, 600) == (T0, s(600))
    assert window(s(3600), T0, 600) == (s(3600), s(4200))
    assert window(s(-30), T0, 600) == (T0, s(600))  # a time just past: now


def test_reschedule_moves_the_attempt_and_stretches_the_window() -> None:
    assert rescheduled(s(60), T0, s(600), 600) == (s(60), s(600))  # earlier: same window
    assert rescheduled(s(900), T0, s(600), 600) == (s(900), s(1500))  # later: window follows
    assert rescheduled(s(-60), T0, s(600), 600) == (T0, s(600))  # "the past" means now
    assert is_due(T0, T0) and not is_due(s(1), T0) and not is_due(None, T0)


def test_rate_limits_per_ip_number_and_tenant() -> None:
    limiter = Limiter(Limits(per_ip=Rate(2, 10), per_number=Rate(1, 60), per_tenant=Rate(3, 1)))
    limiter.check(0, ip="a", number="+1", tenant_id=1)
    with pytest.raises(TooManyRequests, match="per number") as err:
        limiter.check(0, ip="a", number="+1", tenant_id=1)  # same number again
    assert err.value.error_id == "rate-limited" and err.value.status == 429
    limiter.check(0, ip="a", number="+2", tenant_id=1)  # the refusal took no IP token
    with pytest.raises(TooManyRequests, match="per ip"):
        limiter.check(0, ip="a", number="+3", tenant_id=1)
    limiter.check(0, ip="b", number="+3", tenant_id=1)
    with pytest.raises(TooManyRequests, match="per tenant"):
        limiter.check(0, ip="c", number="+4", tenant_id=1)
    limiter.check(0, ip="c", number="+4", tenant_id=2)  # another tenant has its own bucket
    with pytest.raises(TooManyRequests):
        limiter.check(5, ip="a")  # half an IP token back after 5 s: not yet...
    limiter.check(10, ip="a")  # ... a whole one after 10 s
    with pytest.raises(TooManyRequests):
        limiter.check(30, number="+1")
    limiter.check(60, number="+1")  # and the number refills after its period


def test_numbers_asked_for_once_are_forgotten_once_their_bucket_refilled() -> None:
    """A callback to a new number every second, each bucket refilled 20 s later: a day of
    them leaves the buckets of the last 20 s, not 86,400; a refilled number starts afresh."""
    numbers = Buckets(Rate(2, 10.0))
    numbers.take("+1", 0.0)
    numbers.take("+1", 0.0)
    for n in range(1, 86_400):
        numbers.take(f"+{n + 1}", float(n))
    assert len(numbers) <= 21
    assert numbers.tokens("+1", 86_400.0) == 2.0


@given(st.lists(st.tuples(st.sampled_from(["ip", "number", "tenant"]),
                          st.sampled_from(["a", "b"]), st.floats(0, 5)), max_size=40))
def test_peek_foretells_allow_and_takes_nothing(requests: list[tuple[str, str, float]]) -> None:
    """What the IVR asks before it offers a callback (peek) is what the request then gets."""
    limiter = Limiter(Limits(per_ip=Rate(2, 3), per_number=Rate(1, 2), per_tenant=Rate(3, 1)))
    now = 0.0
    for kind, key, step in requests:
        now += step
        keys = [(kind, key)]
        foretold = limiter.peek(keys, now)
        assert limiter.peek(keys, now) == foretold  # peeking took no token
        assert limiter.allow(keys, now) == foretold
