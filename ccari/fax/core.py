"""What a fax call's result means, with no I/O: res_fax's report in, the fax's outcome out.

Asterisk's hang-up handler of the ``ccari-fax`` context reports ``FAXSTATUS``,
``FAXPAGES``, ``FAXERROR``, ``REMOTESTATIONID`` and ``FAXSTATUSSTRING`` (filtered to
harmless characters).  Pages received count whatever the status: a sender that hangs up
after page 1 leaves a one-page ``partial`` fax, which an agent still gets.
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


@dataclass(frozen=True)
class Report:
    status: str  # SUCCESS | FAILED | "" (ReceiveFax never ran: the caller left first)
    pages: int
    error: str
    station: str
    detail: str

    @classmethod
    def parse(cls, fields: Mapping[str, Any]) -> Report:
        """The ``CcariFax`` user event's fields (ARI's ``userevent`` object)."""
        def text(key: str, limit: int) -> str:
            return str(fields.get(key) or "").strip()[:limit]

        pages = text("pages", 6)
        count = int(pages) if pages.isascii() and pages.isdigit() else 0
        return cls(status=text("status", 16).upper(), pages=count,
                   error=text("error", 64), station=text("station", 64),
                   detail=text("detail", 200))

    @classmethod
    def lost(cls, why: str) -> Report:
        """No report came (the channel vanished while ccari was away)."""
        return cls(status="", pages=0, error=why, station="", detail="")


def outcome(report: Report) -> Outcome:
    if report.status == "SUCCESS" and report.pages > 0:
        return Outcome.RECEIVED
    return Outcome.PARTIAL if report.pages > 0 else Outcome.FAILED


def contact_state(result: Outcome) -> State:
    """A fax with pages waits for an agent; one without is over at once."""
    return State.FAILED if result is Outcome.FAILED else State.QUEUED


def reason(report: Report) -> str:
    """What the contact log says went wrong (Asterisk's words first)."""
    return report.error or report.detail or ("no-fax" if not report.status else "unknown")
