"""Which calls a page's SIP socket carries, from the frames the relay passes (pure)."""

from __future__ import annotations

import pytest

from ccari.web.sip_dialogs import Calls, Change, change


def sip(first: str, *headers: str, body: str = "") -> str:
    return "\r\n".join([first, *headers, "", body])


OK_INVITE = sip("SIP/2.0 200 OK", "Call-ID: abc", "CSeq: 1 INVITE", body="v=0\r\n")


@pytest.mark.parametrize(("frame", "expected"), [
    # The page answered a call, or Asterisk the page's call (either way): the call is up.
    (OK_INVITE, (Change.UP, "abc")),
    (sip("SIP/2.0 200 OK", "i: abc", "CSeq: 2 INVITE"), (Change.UP, "abc")),  # compact
    (sip("SIP/2.0 180 Ringing", "Call-ID: abc", "CSeq: 1 INVITE"), None),
    (sip("SIP/2.0 486 Busy Here", "Call-ID: abc", "CSeq: 1 INVITE"), None),
    (sip("SIP/2.0 200 OK", "Call-ID: abc", "CSeq: 3 REGISTER"), None),
    (sip("SIP/2.0 200 OK", "Call-ID: abc", "CSeq: 3 BYE"), None),
    (sip("BYE sip:x@y SIP/2.0", "Call-ID: abc", "CSeq: 4 BYE"), (Change.DOWN, "abc")),
    (sip("BYE sip:x@y SIP/2.0", "call-id:abc", "CSeq: 4 BYE"), (Change.DOWN, "abc")),
    (sip("INVITE sip:x@y SIP/2.0", "Call-ID: abc", "CSeq: 1 INVITE"), None),
    (sip("SIP/2.0 200 OK", "CSeq: 1 INVITE"), None),  # no Call-ID: nothing to follow
    ("", None),
    ("\r\n\r\n", None),  # a keep-alive
    # A body line looking like a header is not one.
    (sip("SIP/2.0 200 OK", "CSeq: 1 INVITE", body="Call-ID: abc\r\n"), None),
])
def test_change(frame: str, expected: tuple[Change, str] | None) -> None:
    assert change(frame) == expected


def test_a_call_is_up_from_its_answer_until_a_bye_either_way() -> None:
    calls = Calls()
    calls.seen(sip("INVITE sip:a@b SIP/2.0", "Call-ID: one", "CSeq: 1 INVITE"))
    assert calls.up == frozenset()  # ringing only
    calls.seen(sip("SIP/2.0 200 OK", "Call-ID: one", "CSeq: 1 INVITE"))
    calls.seen(sip("SIP/2.0 200 OK", "Call-ID: two", "CSeq: 1 INVITE"))
    calls.seen(sip("SIP/2.0 200 OK", "Call-ID: one", "CSeq: 2 INVITE"))  # re-INVITE
    assert calls.up == {"one", "two"}
    calls.seen(sip("BYE sip:a@b SIP/2.0", "Call-ID: one", "CSeq: 3 BYE"))
    assert calls.up == {"two"}
    calls.seen(sip("BYE sip:a@b SIP/2.0", "Call-ID: two", "CSeq: 2 BYE"))
    assert calls.up == frozenset()
