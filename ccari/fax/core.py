"""What a fax call's result means, with no I/O: res_fax's report in, the fax's outcome out.

Asterisk's hang-up handler of the ``ccari-fax`` context reports ``FAXSTATUS``,
``FAXPAGES``, ``FAXERROR``, ``REMOTESTATIONID`` (the other machine's T.30 ident: a received
fax's sender, or the machine a sent fax reached), ``FAXSTATUSSTRING`` (filtered to
harmless characters) and ``FAXMODE`` (G.711 audio or T.38).  Pages received count whatever
the status: a sender that hangs up after page 1 leaves a one-page ``partial`` fax, which an
agent still gets.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccari.contacts.lifecycle import State


class Outcome(enum.StrEnum):
    RECEIVED = "received"
    PARTIAL = "partial"
    FAILED = "failed"


_MODES = {"AUDIO": "audio", "T38": "t38"}  # res_fax's FAXMODE -> the fax's mode
# Q.850 causes of a call that never reached a fax machine and may another time: user busy,
# no user responding, no answer, congestion (channel, switching equipment), temporary failure,
# requested channel not available.
RETRY_CAUSES = frozenset({17, 18, 19, 34, 41, 42, 44})
STATION_CHARS = 20  # the longest T.30 station ident (TSI/CSI)


@dataclass(frozen=True)
class Report:
    status: str  # SUCCESS | FAILED | "" (ReceiveFax never ran: the caller left first)
    pages: int
    error: str
    station: str
    detail: str
    cause: int = 0  # the call's Q.850 hang-up cause when no report came (0: unknown)
    mode: str = ""  # how the pages came: "audio" (G.711) or "t38" (FAXMODE); "": no session

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> Report:
        """The ``CcariFax`` user event's fields (ARI's ``userevent`` object)."""
        def text(key: str, limit: int) -> str:
            return str(fields.get(key) or "").strip()[:limit]

        pages = text("pages", 6)
        count = int(pages) if pages.isascii() and pages.isdigit() else 0
        return cls(status=text("status", 16).upper(), pages=count,
                   error=text("error", 64), station=text("station", 64),
                   detail=text("detail", 200), mode=_MODES.get(text("mode", 8).upper(), ""))

    @classmethod
    def lost(cls, why: str, cause: int = 0) -> Report:
        """No report came (the call was not answered, or vanished while ccari was away)."""
        return cls(status="", pages=0, error=why, station="", detail="", cause=cause)


def outcome(report: Report) -> Outcome:
    if report.status == "SUCCESS" and report.pages > 0:
        return Outcome.RECEIVED
    return Outcome.PARTIAL if report.pages > 0 else Outcome.FAILED


def contact_state(result: Outcome) -> State:
    """A fax with pages waits for an agent; one without is over at once."""
    return State.FAILED if result is Outcome.FAILED else State.QUEUED


def retry(report: Report, retries_left: int) -> bool:
    """Dial a send again by itself: its attempt reached no fax machine (no fax session ran)
    for a reason that may pass (busy, no answer, congestion), and it has retries left."""
    return (not report.status and report.pages == 0 and report.cause in RETRY_CAUSES
            and retries_left > 0)


def station_id(did: str) -> str:
    """ccari's own T.30 ident when it answers a fax on ``did``: the number in international
    form (``+<digits>``), as fax machines name themselves, within T.30's 20 characters."""
    return ("+" + "".join(c for c in did if c.isascii() and c.isdigit()))[:STATION_CHARS]


def reason(report: Report) -> str:
    """What the contact log says went wrong (Asterisk's words first)."""
    return report.error or report.detail or ("no-fax" if not report.status else "unknown")
