"""The public side's token buckets: limits per key, and memory for the recent clients only."""

from __future__ import annotations

from ccari.public.ratelimit import Bucket, Rate


def test_a_key_gets_its_burst_then_one_request_every_period() -> None:
    now = [0.0]
    bucket = Bucket(Rate(2, 10.0), clock=lambda: now[0])
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]
    assert bucket.allow("b")  # another client has its own
    now[0] = 10.0
    assert [bucket.allow("a") for _ in range(2)] == [True, False]


def test_clients_that_came_once_are_forgotten_once_their_bucket_refilled() -> None:
    """A new client a second (a chat from a new address, a new customer session), each
    refilled 20 s later: a day of them leaves the buckets of the last 20 s, not 86,400."""
    now = [0.0]
    bucket = Bucket(Rate(2, 10.0), clock=lambda: now[0])
    for n in range(86_400):
        now[0] = float(n)
        assert bucket.allow(f"client {n}")
    assert len(bucket) <= 21


def test_a_refilled_client_starts_again_with_its_whole_burst() -> None:
    now = [0.0]
    bucket = Bucket(Rate(2, 10.0), clock=lambda: now[0])
    assert bucket.allow("a") and bucket.allow("a") and not bucket.allow("a")
    for n in range(1, 40):  # others come and go meanwhile; "a" is dropped once full again
        now[0] = float(n)
        bucket.allow(f"other {n}")
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]


def test_past_max_keys_the_least_recently_used_goes() -> None:
    now = [0.0]
    bucket = Bucket(Rate(1, 1000.0), clock=lambda: now[0], max_keys=3)
    for key in "abcd":
        assert bucket.allow(key)
    assert len(bucket) == 3
    assert bucket.allow("a")  # forgotten: a fresh bucket
    assert not bucket.allow("d")
