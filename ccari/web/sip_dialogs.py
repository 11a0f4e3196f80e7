"""Which calls a page's SIP websocket carries, from the frames the relay passes: pure.

A call is up on the socket from the 2xx answer to an INVITE (the page's answer to a call that
rings it, or Asterisk's to the call the page placed) until a BYE for it goes either way (the
page's own hang-up or Asterisk's).  When the socket closes with a call still up, the page went
away mid-call (closed, reloaded, crashed or its network gone) without hanging up: what the
relay's owner does about it (:mod:`ccari.agents.webphone`, :mod:`ccari.talk`) needs to know
that, and only that.
"""

from __future__ import annotations

import enum

_CALL_ID = ("call-id", "i")  # the header and its compact form (RFC 3261 section 7.3.3)


class Change(enum.Enum):
    UP = "up"
    DOWN = "down"


def change(frame: str) -> tuple[Change, str] | None:
    """What one SIP frame, either way, does to the calls on the socket, with the call's
    Call-ID; None: nothing."""
    head, _, _ = frame.partition("\r\n\r\n")
    lines = head.split("\r\n")
    first = lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    call_id = next((headers[h] for h in _CALL_ID if h in headers), "")
    if not call_id:
        return None
    if first.startswith("BYE "):
        return Change.DOWN, call_id
    if first.startswith("SIP/2.0 2"):
        cseq = headers.get("cseq", "").split()
        if len(cseq) == 2 and cseq[1] == "INVITE":
            return Change.UP, call_id
    return None


class Calls:
    """The calls up on one socket."""

    def __init__(self) -> None:
        self._up: set[str] = set()

    def seen(self, frame: str) -> None:
        found = change(frame)
        if found is None:
            return
        what, call_id = found
        if what is Change.UP:
            self._up.add(call_id)
        else:
            self._up.discard(call_id)

    @property
    def up(self) -> frozenset[str]:
        return frozenset(self._up)
