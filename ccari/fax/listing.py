"""The fax list of a tenant's supervisors and admins, with no I/O: the page's query in, the
filters out; the faxes found in, the rows the page shows out.

Received faxes (``faxes``) and sent ones (``fax_sends``) are one list, newest first.  A row
names the remote machine's station id (a received fax's sender, or the machine a sent fax
reached) and who dealt with it: the agent a received fax went to, or who asked for a sent
one.  The query names what a supervisor narrows it by:

* ``direction``: ``received`` or ``sent`` (both without it);
* ``status``: a received fax's (``receiving``, ``received``, ``partial``, ``failed``) or a
  sent one's (``sending``, ``retrying``, ``sent``, ``failed``);
* ``from`` / ``to``: days (``YYYY-MM-DD``, both included) on the tenant's clock (its
  business-hours zone, else UTC);
* ``number``: digits the remote number contains;
* ``page`` (from 1) and ``size`` (one of :data:`SIZES`: a page is bounded).

A sent fax's attempts after the first say who asked for them: the token of a resend request,
or ccari itself dialling again after a busy or unanswered line.

The tenant API (``GET /api/faxes``) takes the same query (:func:`parse_api`), except that
without ``direction`` it lists received faxes only and ``direction=all`` lists both.

A value the page does not know is a :class:`~ccari.errors.BadRequest` with a stable id
(``bad-direction``, ``bad-status``, ``bad-period``, ``bad-number``, ``bad-page``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccari.errors import BadRequest

DIRECTIONS = ("received", "sent")
RECEIVED_STATUSES = ("receiving", "received", "partial", "failed")
SENT_STATUSES = ("sending", "retrying", "sent", "failed")
STATUSES = tuple(dict.fromkeys((*RECEIVED_STATUSES, *SENT_STATUSES)))
SIZES = (25, 50, 100)
DEFAULT_SIZE = 50
MAX_DAYS = 366  # the longest range one query covers
NUMBER_DIGITS = 32
FORM = ("direction", "status", "from", "to", "number", "size")  # the filter form's fields


@dataclass(frozen=True)
class Filters:
    direction: str = ""  # "" (both), received, sent
    status: str = ""
    since: dt.datetime | None = None  # aware, included
    until: dt.datetime | None = None  # aware, excluded
    number: str = ""  # digits the remote number contains
    page: int = 1
    size: int = DEFAULT_SIZE
    # The query as the page's form shows it again (and its links carry).
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def received(self) -> bool:
        """Whether received faxes can match at all."""
        return self.direction != "sent" and (not self.status or self.status in RECEIVED_STATUSES)

    def sent(self) -> bool:
        return self.direction != "received" and (not self.status or self.status in SENT_STATUSES)

    def link(self, page: int) -> str:
        """The query string of another page of the same list."""
        return "?" + urlencode({**{k: v for k, v in self.form.items() if v},
                                "page": str(page)})


def zone(hours: Mapping[str, Any] | None) -> ZoneInfo:
    """The tenant's clock: its business-hours zone, else UTC."""
    name = (hours or {}).get("time_zone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _choice(query: Mapping[str, str], name: str, choices: Sequence[str], error_id: str) -> str:
    value = query.get(name, "").strip()
    if value and value not in choices:
        raise BadRequest(f"{name} is one of {', '.join(choices)}", error_id=error_id)
    return value


def _day(query: Mapping[str, str], name: str) -> dt.date | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} is a day, YYYY-MM-DD", error_id="bad-period") from None


def _whole(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise BadRequest(f"{name} is a whole number", error_id="bad-page")
    return int(raw)


def parse(query: Mapping[str, str], tz: ZoneInfo) -> Filters:
    """The filters of the page's query (``from``/``to`` in ``tz``)."""
    direction = _choice(query, "direction", DIRECTIONS, "bad-direction")
    status = _choice(query, "status", STATUSES, "bad-status")
    first, last = _day(query, "from"), _day(query, "to")
    if first and last and last < first:
        raise BadRequest("'to' is before 'from'", error_id="bad-period")
    if first and last and (last - first).days >= MAX_DAYS:
        raise BadRequest(f"a range is at most {MAX_DAYS} days", error_id="bad-period")
    raw_number = query.get("number", "").strip()
    number = "".join(c for c in raw_number if c.isascii() and c.isdigit())
    if raw_number and (not number or len(number) > NUMBER_DIGITS):
        raise BadRequest("number is digits of the remote number", error_id="bad-number")
    page = _whole(query, "page", 1)
    size = _whole(query, "size", DEFAULT_SIZE)
    if page < 1:
        raise BadRequest("page counts from 1", error_id="bad-page")
    if size not in SIZES:
        raise BadRequest(f"size is one of {', '.join(map(str, SIZES))}", error_id="bad-page")
    form = {"direction": direction, "status": status,
            "from": first.isoformat() if first else "", "to": last.isoformat() if last else "",
            "number": number, "size": str(size) if size != DEFAULT_SIZE else ""}
    return Filters(direction=direction, status=status, number=number, page=page, size=size,
                   since=_midnight(first, tz) if first else None,
                   until=_midnight(last + dt.timedelta(days=1), tz) if last else None,
                   form=form)


def parse_api(query: Mapping[str, str], tz: ZoneInfo) -> Filters:
    """The tenant API's filters: the page's, except ``direction``: received faxes without it
    (all the API listed before sent ones joined the list), ``all`` for both."""
    direction = query.get("direction", "").strip()
    if direction not in ("", "all", *DIRECTIONS):
        raise BadRequest(f"direction is one of all, {', '.join(DIRECTIONS)}",
                         error_id="bad-direction")
    return parse({**query, "direction": {"": "received", "all": ""}.get(direction, direction)},
                 tz)


def echo(query: Mapping[str, str]) -> dict[str, str]:
    """The form as the query filled it, for a page that refused it (shown escaped)."""
    return {name: query.get(name, "")[:64] for name in FORM}


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


# ---- what the page shows ---------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    """A received fax as stored, with the name of the agent its contact went to."""

    id: str
    created_at: dt.datetime
    status: str
    sender_number: str | None
    station_id: str | None
    pages: int
    error: str | None
    detail: str | None
    contact_id: str | None
    has_pdf: bool
    agent: str | None
    # What the API shows besides (the page does not).
    settled_at: dt.datetime | None = None
    tiff_sha256: str | None = None
    pdf_sha256: str | None = None
    state: str | None = None  # its contact's
    agent_id: int | None = None
    detected: bool = False
    mode: str | None = None


@dataclass(frozen=True)
class Attempt:
    status: str
    pages: int
    error: str | None
    started_at: dt.datetime
    id: str = ""  # its channel id (the API shows it and ended_at)
    ended_at: dt.datetime | None = None
    requested_by: str | None = None  # who asked for it (ccari.fax.sending.RequestedBy)


@dataclass(frozen=True)
class Sent:
    id: str
    created_at: dt.datetime
    status: str
    to_number: str
    pages: int
    retry_at: dt.datetime | None
    attempts: tuple[Attempt, ...]
    pdf_sha256: str = ""
    sent_by: str | None = None  # who asked for it (ccari.fax.sending.SentBy)
    station_id: str | None = None  # the receiving machine's, as it reported it


@dataclass(frozen=True)
class Found:
    total: int  # faxes matching the filters, on every page
    faxes: tuple[Received | Sent, ...]  # this page's, newest first


@dataclass(frozen=True)
class Row:
    direction: str  # received | sent
    id: str
    when: str  # on the tenant's clock
    number: str
    station_id: str
    pages: str
    status: str
    reason: str  # Asterisk's reason and words, for a fax not wholly received
    attempts: tuple[str, ...]  # a sent fax's, oldest first
    agent: str  # a received fax's agent; who asked for a sent one
    contact_id: str | None
    pdf: bool


@dataclass(frozen=True)
class Page:
    rows: tuple[Row, ...]
    total: int
    page: int
    pages: int  # how many pages the filters make (at least 1)
    previous: str | None  # query strings of the neighbouring pages
    next: str | None


# Who asked for a sent fax, in the page's words.
SENDERS = {"tenant-token": "API (tenant token)", "admin-token": "API (admin token)"}
# Who asked for an attempt after the first (a resend, or ccari's own retry), in its words.
AGAIN = {**{k: f"resent by {v}" for k, v in SENDERS.items()}, "retry": "dialled again by itself"}


def _when(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _reason(error: str | None, detail: str | None) -> str:
    words = [w for w in (error, detail) if w]
    if len(words) == 2 and words[0] == words[1]:
        words.pop()
    return ": ".join(words)


def row(fax: Received | Sent, tz: ZoneInfo) -> Row:
    if isinstance(fax, Received):
        return Row("received", fax.id, _when(fax.created_at, tz), fax.sender_number or "",
                   fax.station_id or "", str(fax.pages), fax.status,
                   "" if fax.status == "received" else _reason(fax.error, fax.detail), (),
                   fax.agent or "", fax.contact_id, fax.has_pdf)
    attempts = tuple(
        f"{a.status}, {a.pages} of {fax.pages} page{'' if fax.pages == 1 else 's'}"
        f"{', ' + a.error if a.error else ''} ({_when(a.started_at, tz)})"
        + (f", {AGAIN[a.requested_by]}" if n and a.requested_by in AGAIN else "")
        for n, a in enumerate(fax.attempts))
    reason = f"dialled again at {_when(fax.retry_at, tz)}" \
        if fax.status == "retrying" and fax.retry_at else ""
    return Row("sent", fax.id, _when(fax.created_at, tz), "+" + fax.to_number,
               fax.station_id or "", str(fax.pages), fax.status, reason, attempts,
               SENDERS.get(fax.sent_by or "", ""), None, True)


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` faxes make (at least 1)."""
    return max(1, math.ceil(total / size))


def page(found: Found, filters: Filters, tz: ZoneInfo) -> Page:
    """The rows of one page, and where its neighbours are."""
    pages = page_count(found.total, filters.size)
    return Page(tuple(row(f, tz) for f in found.faxes), found.total, filters.page, pages,
                filters.link(filters.page - 1) if filters.page > 1 else None,
                filters.link(filters.page + 1) if filters.page < pages else None)
