"""The pure rules of co-browsing: codes, rate limits, event checks, allowed URLs, the CSP."""

from __future__ import annotations

import pytest

from ccari.cobrowse.core import (
    Limits,
    TokenBucket,
    allowed_url,
    check_events,
    mirror_csp,
    new_code,
    page_of,
    valid_code,
)

SITES = ["https://www.acme.example", "http://127.0.0.1:8081/"]


def test_codes_have_six_digits_and_avoid_the_ones_in_use() -> None:
    taken = {f"{n:06d}" for n in range(0, 10**6, 3)}  # a third of the space is in use
    codes = {new_code(taken) for _ in range(200)}
    assert all(valid_code(c) for c in codes)
    assert not codes & taken
    assert len(codes) > 150  # random, not a counter


@pytest.mark.parametrize(("code", "ok"), [
    ("012345", True), ("12345", False), ("1234567", False), ("12a456", False), (123456, False),
    (None, False), ("١٢٣٤٥٦", False),  # Arabic-Indic digits are not the code
])
def test_code_shape(code: object, ok: bool) -> None:
    assert valid_code(code) is ok


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.1  # one more token
    assert bucket.take() and not bucket.take()
    now[0] += 100  # never above the burst
    assert sum(bucket.take() for _ in range(10)) == 5
    assert not bucket.take(6)


@pytest.mark.parametrize(("message", "error"), [
    ({"type": "events", "events": []}, "non-empty"),
    ({"type": "events", "events": "x"}, "non-empty"),
    ({"type": "events", "events": [{"type": 2}]}, "rrweb"),
    ({"type": "events", "events": [{"type": 99, "timestamp": 1}]}, "rrweb"),
    ({"type": "events", "events": ["<script>"]}, "rrweb"),
    ({"type": "events", "events": [{"type": 3, "timestamp": 1}] * 2001}, "non-empty"),
])
def test_malformed_batches_are_refused(message: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_events(message, Limits())


def test_page_of_a_batch_is_its_last_meta_event() -> None:
    events = [{"type": 4, "timestamp": 1, "data": {"href": "http://a/1", "width": 800, "height": 600}},
              {"type": 2, "timestamp": 2, "data": {}},
              {"type": 4, "timestamp": 3, "data": {"href": "http://a/2", "width": 1024, "height": 700}}]
    assert page_of(check_events({"type": "events", "events": events}, Limits())) == {
        "url": "http://a/2", "width": 1024, "height": 700}
    assert page_of([{"type": 3, "timestamp": 1, "data": {}}]) is None


@pytest.mark.parametrize(("url", "ok"), [
    ("https://www.acme.example/plans?x=1", True),
    ("HTTPS://WWW.ACME.EXAMPLE/", True),
    ("http://127.0.0.1:8081/demo/acme/page2", True),
    ("http://127.0.0.1:8082/", False),              # another port is another origin
    ("https://www.acme.example.evil.test/", False),
    ("https://evil.test/?https://www.acme.example", False),
    ("javascript:alert(1)", False),
    ("data:text/html,hi", False),
    ("//www.acme.example/", False),
    ("https://www.acme.example/\r\nSet-Cookie: x", False),
    (42, False),
])
def test_agent_may_only_send_the_customer_to_the_tenants_sites(url: object, ok: bool) -> None:
    assert allowed_url(url, SITES) is ok


def test_mirror_csp_allows_styles_of_the_tenants_sites_and_no_foreign_script() -> None:
    csp = mirror_csp(SITES + ["not a url"])
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "https://www.acme.example" in directives["style-src"]
    assert "http://127.0.0.1:8081" in directives["img-src"]
    assert directives["frame-ancestors"] == "'self'"
    assert "not a url" not in csp
