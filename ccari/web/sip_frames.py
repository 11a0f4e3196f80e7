"""One websocket frame, one SIP message (RFC 7118): what both SIP relays check before
Asterisk sees a page's frame.  Pure.

Asterisk's websocket transport parses whatever follows a message's body as a next message,
so a frame whose body is not exactly its one Content-Length (a second Content-Length
header included: which one a parser believes is its own business) could carry a message
nobody checked behind the one that was."""

from __future__ import annotations

_LENGTH = ("content-length", "l")  # the header and its compact form


def split(frame: str) -> tuple[list[str], str, str]:
    """The frame's header lines (the start line first), the blank line ("" when there is
    none), and the body."""
    head, sep, body = frame.partition("\r\n\r\n")
    return head.split("\r\n"), sep, body


def one_message(lines: list[str], sep: str, body: str, *, length_required: bool = True) -> bool:
    """A header block ended by its blank line and a body of its one Content-Length (no
    Content-Length: an empty body, unless ``length_required``)."""
    if not sep:
        return False
    lengths = [line.partition(":")[2].strip() for line in lines[1:]
               if line.partition(":")[0].strip().lower() in _LENGTH]
    if not lengths and not length_required:
        lengths = ["0"]
    if len(lengths) != 1 or not (lengths[0].isascii() and lengths[0].isdigit()):
        return False
    return int(lengths[0]) == len(body.encode())
