"""The pure parts of the email context, as tables: routing rules, threading headers, loop
guard, anticipated-time wording, and parsing of awkward mail."""

from __future__ import annotations

import math

import pytest

from ccari.email import headers as hdr
from ccari.email import mime
from ccari.email.limits import RateLimit
from ccari.email.rules import Message, RuleError, Table

RULES = [
    {"match": {"subject": r"invoice|bill"}, "attributes": {"skill": "billing"}, "priority": 5},
    {"match": {"to": r"^vip@", "body": r"\bcancel"}, "attributes": {"tier": "gold"}},
    {"match": {"body": r"router"}, "attributes": {"skill": "support", "topic": "router"}},
]
TABLE = Table.of({"skill": "support", "language": "en"}, RULES)


@pytest.mark.parametrize(("to", "subject", "body", "attributes", "priority", "rule"), [
    ("support@acme.example", "Hello", "just a question",
     {"skill": "support", "language": "en"}, 0, None),
    ("support@acme.example", "My INVOICE of May", "router broken",
     {"skill": "billing", "language": "en"}, 5, 0),  # first match wins, case-insensitive
    ("vip@acme.example", "Hi", "I want to cancel", {"skill": "support", "language": "en",
                                                    "tier": "gold"}, 0, 1),
    ("vip@acme.example", "Hi", "I want to stay", {"skill": "support", "language": "en"}, 0, None),
    ("support@acme.example", "Hi", "please cancel", {"skill": "support", "language": "en"},
     0, None),  # rule 1 needs both to and body
    ("support@acme.example", "Hi", "my Router blinks",
     {"skill": "support", "language": "en", "topic": "router"}, 0, 2),
    ("support@acme.example", "Hi", "x" * 30_000 + " router", {"skill": "support", "language": "en"},
     0, None),  # the body is scanned up to BODY_SCAN characters
])
def test_route(to: str, subject: str, body: str, attributes: dict[str, str], priority: int,
               rule: int | None) -> None:
    got = TABLE.route(Message(to, subject, body))
    assert (got.attributes, got.priority, got.rule) == (attributes, priority, rule)


def test_an_empty_match_always_matches() -> None:
    table = Table.of({}, [{"attributes": {"skill": "all"}}])
    assert table.route(Message("a@b.example", "", "")).attributes == {"skill": "all"}


@pytest.mark.parametrize(("rules", "error"), [
    ("nope", "must be a list"),
    ([{"match": {"from": "x"}}], "unknown field 'from'"),
    ([{"match": {"subject": "("}}], "rules[0].match.subject"),
    ([{"match": {"subject": ""}}], "rules[0].match.subject"),
    ([{"match": {"subject": "x" * 201}}], "rules[0].match.subject"),
    ([{}, {"priority": 1000}], "rules[1].priority"),
    ([{"priority": True}], "rules[0].priority"),
    ([{"attributes": {"_private": "x"}}], "bad attribute name"),
    ([{"attributes": {"skill": ["a"]}}], "must be a short string"),
    ([{"weight": 1}], "unknown keys"),
    ([{}] * 101, "at most 100"),
])
def test_invalid_rules_are_refused_with_the_place(rules: object, error: str) -> None:
    with pytest.raises(RuleError, match=error.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(")):
        Table.of({}, rules)


@pytest.mark.parametrize(("in_reply_to", "references", "expected"), [
    (None, None, []),
    ("<a@x>", None, ["<a@x>"]),
    ("<c@x>", "<a@x> <b@x>\r\n <c@x>", ["<c@x>", "<b@x>", "<a@x>"]),
    ("junk <c@x> (comment)", "", ["<c@x>"]),
    (None, "<a@x> not-an-id <b@x>", ["<b@x>", "<a@x>"]),
])
def test_thread_ids_most_specific_first(in_reply_to: str | None, references: str | None,
                                        expected: list[str]) -> None:
    assert hdr.thread_ids(in_reply_to, references) == expected


@pytest.mark.parametrize(("refs", "parent", "expected"), [
    ([], "<p@x>", ["<p@x>"]),
    (["<a@x>", "<b@x>"], "<p@x>", ["<a@x>", "<b@x>", "<p@x>"]),
    (["<a@x>", "<p@x>"], "<p@x>", ["<a@x>", "<p@x>"]),
    ([f"<{i}@x>" for i in range(30)], "<p@x>",
     ["<0@x>"] + [f"<{i}@x>" for i in range(12, 30)] + ["<p@x>"]),  # root + most recent
])
def test_references_of_a_reply(refs: list[str], parent: str, expected: list[str]) -> None:
    assert hdr.references_for_reply(refs, parent) == expected


@pytest.mark.parametrize(("subject", "expected"), [
    ("Router broken", "Re: Router broken"),
    ("Re: Router broken", "Re: Router broken"),
    ("RE:Router", "RE:Router"),
    ("AW: Frage", "AW: Frage"),
    ("  spaced\n  out ", "Re: spaced out"),
    ("", "Re: your message"),
    ("Regarding money", "Re: Regarding money"),
])
def test_reply_subject(subject: str, expected: str) -> None:
    assert hdr.reply_subject(subject) == expected


@pytest.mark.parametrize(("headers", "envelope_from", "from_address", "automatic"), [
    ({}, "ada@example.com", "ada@example.com", False),
    ({"auto-submitted": "no"}, "ada@example.com", "ada@example.com", False),
    ({"auto-submitted": "auto-replied"}, "ada@example.com", "ada@example.com", True),
    ({"auto-submitted": "auto-generated"}, "ada@example.com", "ada@example.com", True),
    ({"precedence": "bulk"}, "ada@example.com", "ada@example.com", True),
    ({"precedence": "List"}, "ada@example.com", "ada@example.com", True),
    ({"list-id": "<news.example.com>"}, "ada@example.com", "ada@example.com", True),
    ({"x-autoreply": "yes"}, "ada@example.com", "ada@example.com", True),
    ({"x-auto-response-suppress": "All"}, "ada@example.com", "ada@example.com", True),
    ({}, "", "ada@example.com", True),  # a bounce
    ({}, "<>", "ada@example.com", True),
    ({}, None, "MAILER-DAEMON@mx.example.com", True),
    ({}, None, "noreply@shop.example", True),
    ({}, None, "no-reply+x@shop.example", True),
    ({}, None, "norah@example.com", False),
])
def test_automatic_mail_is_recognised(headers: dict[str, str], envelope_from: str | None,
                                      from_address: str, automatic: bool) -> None:
    assert hdr.is_automatic(headers, envelope_from, from_address) is automatic


@pytest.mark.parametrize(("value", "expected"), [
    ("ada@Example.COM", "ada@example.com"),
    (" ada@example.com ", "ada@example.com"),
    ("Ada <ada@example.com>", None),
    ("ada@localhost", None),
    ("ada@@example.com", None),
    ("ada@example.com\r\nBcc: x@y.example", None),
    ("a" * 65 + "@example.com", None),
    ("", None),
    (None, None),
])
def test_valid_address(value: str | None, expected: str | None) -> None:
    assert hdr.valid_address(value) == expected


@pytest.mark.parametrize(("predicted", "fallback", "expected"), [
    (None, 14400, 0.0), (math.inf, 14400, 14400.0), (120.0, 14400, 120.0), (-1.0, 10, 0.0),
])
def test_anticipated_response(predicted: float | None, fallback: float, expected: float) -> None:
    assert hdr.anticipated_response_s(predicted, fallback) == expected


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "within a few minutes"), (299, "within a few minutes"),
    (301, "within about 10 minutes"), (25 * 60, "within about 25 minutes"),
    (2 * 3600, "within about 2 hours"), (4 * 3600, "within about 4 hours"),
    (3 * 86400, "within about 3 days"),
])
def test_describe_wait(seconds: float, text: str) -> None:
    assert hdr.describe_wait(seconds) == text


def test_parse_keeps_what_it_can_of_awkward_mail() -> None:
    raw = (b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\n"
           b"Reply-To: desk@example.com\r\nTo: support@acme.example\r\n"
           b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nIn-Reply-To: <p@acme.example>\r\n"
           b"References: <r@acme.example> <p@acme.example>\r\nAuto-Submitted: auto-replied\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p>Hello <b>there</b></p><script>alert(1)</script><p>&lt;3</p>\r\n")
    p = mime.parse(raw, "renee@example.com")
    assert (p.from_address, p.from_name, p.reply_address) == ("renee@example.com", "Renée",
                                                              "desk@example.com")
    assert p.subject == "Café" and p.automatic
    assert p.in_reply_to == "<p@acme.example>"
    assert p.thread_ids == ["<p@acme.example>", "<r@acme.example>"]
    assert "Hello" in p.body and "there" in p.body and "<3" in p.body and "alert" not in p.body
    assert p.message_id.endswith("@no-message-id.invalid>")
    assert mime.parse(raw).message_id == p.message_id  # a retry is recognised


def test_parse_of_garbage_still_gives_a_message() -> None:
    p = mime.parse(b"\x00\xff not a mail at all", "x@example.com")
    assert p.from_address == "x@example.com" and p.message_id.startswith("<")


def test_rate_limit_window() -> None:
    now = [0.0]
    limit = RateLimit(2, 10.0, clock=lambda: now[0], max_keys=2)
    assert limit.allow("a") and limit.allow("a") and not limit.allow("a")
    assert limit.retry_after("a") == 10.0
    now[0] = 10.0
    assert limit.allow("a")
    assert limit.allow("b") and limit.allow("c")  # c evicts idle keys, never blocks
