"""What the public SIP relay lets through from a customer's page: a pure filter, frames in,
frames out (tested with tables in ``tests/talk/test_sip_filter.py``).

The page may place **one** call, from its ticket's anonymous identity, to the tenant's
``talk`` target, and continue that dialog; nothing else reaches Asterisk:

* only INVITE, ACK, BYE, CANCEL and OPTIONS (a REGISTER, MESSAGE, SUBSCRIBE, REFER...
  gets ``403`` with ``X-Ccari-Error: method-not-allowed``);
* a request outside a dialog must be to ``sip:talk@...`` (``destination-not-allowed``)
  from the ticket's identity (``identity-not-allowed``), a second INVITE outside the
  call's dialog is refused (``one-call-per-ticket``);
* a request inside a dialog must be of the ticket's call (``unknown-dialog``);
* credentials are never relayed (``no-credentials``): the page has none;
* a frame is exactly one message, its body as long as its Content-Length says
  (``bad-framing``): nothing can ride behind a checked message;
* the page's own ``X-Ccari-*`` headers are dropped; the relay adds the endpoint's key and
  the signed call context to what starts the call.

Responses from the page (to Asterisk's BYE, or re-INVITE) pass as they are.

Audio only: the first re-INVITE of a video call's page whose offer sends no video (no
``m=video`` line, or each one's port 0: the stream stopped) is marked in its verdict
(``audio_only``), once: the customer switched the call to audio only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ccari.talk.context import TARGET
from ccari.web.sip_frames import one_message, split

ALLOWED = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"})
#: The header the refusals name their reason in (a stable id, as the HTTP side's "error").
ERROR_HEADER = "X-Ccari-Error"
KEY_HEADER = "X-Ccari-Web-Key"
CONTEXT_HEADER = "X-Ccari-Web"
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "v": "via", "l": "content-length"}
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<uri>\S+) SIP/2\.0$")
_URI_USER = re.compile(r"^sips?:(?P<user>[^@;>?\s]+)@", re.IGNORECASE)
_NAMEADDR_USER = re.compile(r"<?sips?:(?P<user>[^@;>\s]+)@", re.IGNORECASE)
_TAG = re.compile(r";\s*tag=", re.IGNORECASE)


@dataclass
class Dialog:
    """What the relay knows of one page's call: its Call-ID once the INVITE went through."""

    identity: str
    key: str  # the customer endpoint's identify header value (ccari's, never the page's)
    context: str  # the signed call context
    call_id: str | None = None
    refused: list[str] = field(default_factory=list)  # the error ids, in order (for logs)
    video: bool = False  # a video call (the ticket's)
    audio_only: bool = False  # the page has switched it to audio only


@dataclass(frozen=True)
class Verdict:
    """``forward``: the frame for Asterisk (None: nothing); ``reply``: for the page."""

    forward: str | None = None
    reply: str | None = None
    error: str | None = None
    audio_only: bool = False  # this request switches the video call to audio only


def check(frame: str, dialog: Dialog) -> Verdict:
    lines, sep, body = split(frame)
    if not one_message(lines, sep, body):
        # One websocket frame is one SIP message (RFC 7118); Asterisk would parse what
        # follows a message's Content-Length as a next message, unchecked.
        return _refuse(dialog, lines, "bad-framing",
                       method="" if lines[0].startswith("SIP/2.0 ") else "?")
    if lines[0].startswith("SIP/2.0 "):
        return Verdict(forward=frame)  # a response to Asterisk's request in the dialog
    m = _REQUEST.match(lines[0])
    if m is None:
        return _refuse(dialog, lines, "bad-request", method="?")
    method, uri = m["method"], m["uri"]
    headers = [(line.partition(":")[0].strip(), line) for line in lines[1:]]
    names = {_COMPACT.get(n.lower(), n.lower()) for n, _ in headers}

    def first(name: str) -> str:
        for n, line in headers:
            if _COMPACT.get(n.lower(), n.lower()) == name:
                return line.partition(":")[2].strip()
        return ""

    if method not in ALLOWED:
        return _refuse(dialog, lines, "method-not-allowed", method=method)
    if names & {"authorization", "proxy-authorization"}:
        return _refuse(dialog, lines, "no-credentials", method=method)
    kept = [line for n, line in headers if not n.lower().startswith("x-ccari-")]
    call_id = first("call-id")
    if _TAG.search(first("to")):  # inside a dialog: only the ticket's call
        if call_id != dialog.call_id:
            return _refuse(dialog, lines, "unknown-dialog", method=method)
        switched = (method == "INVITE" and dialog.video and not dialog.audio_only
                    and bool(body) and not sends_video(body))
        dialog.audio_only = dialog.audio_only or switched
        return Verdict(forward="\r\n".join([lines[0], *kept]) + sep + body, audio_only=switched)
    target = _URI_USER.match(uri)
    if target is None or target["user"] != TARGET:
        return _refuse(dialog, lines, "destination-not-allowed", method=method)
    sender = _NAMEADDR_USER.search(first("from"))
    if sender is None or sender["user"] != dialog.identity:
        return _refuse(dialog, lines, "identity-not-allowed", method=method)
    if method == "INVITE":
        if dialog.call_id is not None and call_id != dialog.call_id:
            return _refuse(dialog, lines, "one-call-per-ticket", method=method)
        dialog.call_id = call_id
    elif method in ("CANCEL", "ACK") and call_id != dialog.call_id:
        return _refuse(dialog, lines, "unknown-dialog", method=method)
    added = [f"{KEY_HEADER}: {dialog.key}", f"{CONTEXT_HEADER}: {dialog.context}"]
    return Verdict(forward="\r\n".join([lines[0], *added, *kept]) + sep + body)


def sends_video(sdp: str) -> bool:
    """Does this SDP offer a video stream that flows (an ``m=video`` line with a port)?"""
    for line in sdp.splitlines():
        if line.startswith("m=video "):
            port = line.split(" ", 2)[1].partition("/")[0]
            if port.isdigit() and int(port) != 0:
                return True
    return False


def _refuse(dialog: Dialog, lines: list[str], error: str, *, method: str) -> Verdict:
    """A 403 for the page naming ``error`` (an ACK, or a response, gets no answer)."""
    dialog.refused.append(error)
    if method in ("ACK", ""):
        return Verdict(error=error)
    copied = []
    for line in lines[1:]:
        name = _COMPACT.get(line.partition(":")[0].strip().lower(),
                            line.partition(":")[0].strip().lower())
        if name in ("via", "from", "call-id", "cseq"):
            copied.append(line)
        elif name == "to":
            copied.append(line if _TAG.search(line) else line + ";tag=ccari-relay")
    reply = "\r\n".join(["SIP/2.0 403 Forbidden", *copied, f"{ERROR_HEADER}: {error}",
                         "Content-Length: 0"]) + "\r\n\r\n"
    return Verdict(reply=reply, error=error)
