"""Business hours and after-hours routes as the provisioning model takes them.

Pure, like :mod:`ccari.provisioning.schemas`: JSON in, the canonical JSON (what is stored and
shown) or a :class:`~ccari.hours.calendar.Calendar` out, or :class:`Invalid` naming the field.

A calendar::

    {"time_zone": "Europe/Paris",
     "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"},
                {"days": ["sat"], "open": "22:00", "close": "26:00"}],   # 02:00 on Sunday
     "holidays": [{"date": "2026-12-25"},                                 # closed all day
                  {"date": "2026-12-24", "hours": [{"open": "09:00", "close": "12:00"}]}],
     "recurring": [{"rule": "FREQ=YEARLY;BYMONTH=5;BYDAY=1MO", "name": "May Day"},
                   {"rule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31",
                    "hours": [{"open": "09:00", "close": "13:00"}]}]}

``recurring``: holidays on every local date an iCalendar rule falls on
(:mod:`ccari.hours.recurrence`); a dated holiday wins over them.  Shown only when there is one.

An after-hours route (a number's, when its calendar says closed; a tenant's, for its numbers
that have none, :func:`route_of`)::

    {"action": "announcement"}             "we are closed", then hang-up (the default)
    {"action": "voicemail"}                a message, kept as a voicemail of the number's queue
    {"action": "queue", "queue": "night"}  the call waits in another queue of the tenant

The announcement and the voicemail may name the prompt the caller hears first, one of the
tenant's own (``"prompt": "tenant:closed"``, :mod:`ccari.provisioning.prompts`; the service
checks it exists) instead of ccari's ``closed`` / ``closed-voicemail``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ccari.hours import recurrence
from ccari.hours.calendar import (
    DAY_MINUTES,
    Calendar,
    Interval,
    Recurring,
    day_overlaps,
    is_open,
    next_change,
    overlaps,
)

# schemas parses a number's and a document's hours with this module: imported as a module.
from ccari.provisioning import schemas as sch
from ccari.provisioning.fields import Fields

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME = re.compile(r"^([0-4][0-9]):([0-5][0-9])$")
AFTER_HOURS = ("announcement", "voicemail", "queue")
MAX_HOLIDAYS = 400
MAX_RECURRING = 50


def _minutes(f: Fields, name: str) -> int:
    raw = f.data.get(name)
    m = TIME.fullmatch(raw) if isinstance(raw, str) else None
    if m is None:
        raise sch.Invalid(f"{f.at(name)}: a time HH:MM is required (past midnight: up to 48:00)",
                      error_id="invalid-time")
    return int(m[1]) * 60 + int(m[2])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _interval(f: Fields) -> Interval:
    opens, closes = _minutes(f, "open"), _minutes(f, "close")
    if opens >= DAY_MINUTES:
        raise sch.Invalid(f"{f.at('open')}: opens by 23:59", error_id="invalid-time")
    if not opens < closes <= opens + DAY_MINUTES:
        raise sch.Invalid(f"{f.where}: closes at {_hhmm(closes)}, not after it opens at "
                      f"{_hhmm(opens)} (past midnight: write 26:00 for 02:00 the next day)",
                      error_id="inverted-hours")
    return Interval(opens, closes)


def time_zone(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise sch.Invalid(f"{where}: {value!r} is not an IANA time zone (e.g. Europe/Paris)",
                      error_id="invalid-time-zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise sch.Invalid(f"{where}: no time zone {value!r} here", error_id="invalid-time-zone") from None
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def calendar(data: Any, where: str = "hours") -> dict[str, Any]:
    """A calendar, checked, in its canonical JSON (times HH:MM, holidays by date)."""
    return dump(parse(data, where))


def parse(data: Any, where: str = "hours") -> Calendar:
    f = Fields(data, where, {"time_zone", "weekly", "holidays", "recurring"})
    zone = time_zone(f.data.get("time_zone"), f.at("time_zone"))
    weekly: dict[int, list[Interval]] = {}
    for at, item in f.items("weekly"):
        wf = Fields(item, at, {"days", "open", "close"})
        days = wf.data.get("days")
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            raise sch.Invalid(f"{wf.at('days')}: a list of days from {', '.join(DAYS)}",
                          error_id="invalid-field")
        interval = _interval(wf)
        for d in days:
            weekly.setdefault(DAYS.index(d), []).append(interval)
    week = {d: tuple(sorted(v)) for d, v in weekly.items()}
    clash = overlaps(week)
    if clash is not None:
        (d1, i1), (d2, i2) = clash
        raise sch.Invalid(f"{f.at('weekly')}: {DAYS[d1]} {_span(i1)} and {DAYS[d2]} {_span(i2)} "
                      "overlap", error_id="overlapping-hours")
    holidays: dict[dt.date, tuple[Interval, ...]] = {}
    names: dict[dt.date, str] = {}
    items = f.items("holidays")
    if len(items) > MAX_HOLIDAYS:
        raise sch.Invalid(f"{f.at('holidays')}: at most {MAX_HOLIDAYS}", error_id="invalid-field")
    for at, item in items:
        hf = Fields(item, at, {"date", "hours", "name"})
        name = hf.text("name", max_len=100).strip() if hf.has("name") else None
        try:
            date = dt.date.fromisoformat(hf.data.get("date"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise sch.Invalid(f"{hf.at('date')}: a date YYYY-MM-DD is required",
                          error_id="invalid-date") from None
        if date in holidays:
            raise sch.Invalid(f"{hf.at('date')}: {date} is listed twice", error_id="duplicate")
        holidays[date] = _day_hours(hf)
        if name:
            names[date] = name
    return Calendar(zone, week, holidays, _recurring(f), names)


def _day_hours(f: Fields) -> tuple[Interval, ...]:
    """A holiday's own hours (none: closed all day)."""
    hours = tuple(sorted(_interval(Fields(h, hat, {"open", "close"}))
                         for hat, h in f.items("hours")))
    pair = day_overlaps(hours)
    if pair is not None:
        raise sch.Invalid(f"{f.at('hours')}: {_span(pair[0])} and {_span(pair[1])} overlap",
                          error_id="overlapping-hours")
    return hours


def _recurring(f: Fields) -> tuple[Recurring, ...]:
    items = f.items("recurring")
    if len(items) > MAX_RECURRING:
        raise sch.Invalid(f"{f.at('recurring')}: at most {MAX_RECURRING}", error_id="invalid-field")
    out: list[Recurring] = []
    for at, item in items:
        rf = Fields(item, at, {"rule", "name", "hours"})
        name = rf.text("name", max_len=100) if rf.has("name") else None
        try:
            rule = recurrence.check(rf.data.get("rule"))
        except recurrence.BadRule as exc:
            raise sch.Invalid(f"{rf.at('rule')}: {exc}", error_id="invalid-rule") from None
        if any(r.rule == rule for r in out):
            raise sch.Invalid(f"{rf.at('rule')}: {rule} is listed twice", error_id="duplicate")
        out.append(Recurring(rule, _day_hours(rf), name))
    return tuple(out)


def _span(i: Interval) -> str:
    return f"{_hhmm(i.open)}-{_hhmm(i.close)}"


def dump(cal: Calendar) -> dict[str, Any]:
    """The canonical JSON: one weekly entry per interval, with every day it opens on."""
    by_interval: dict[Interval, list[int]] = {}
    for day in sorted(cal.weekly):
        for i in cal.weekly[day]:
            by_interval.setdefault(i, []).append(day)
    weekly = [{"days": [DAYS[d] for d in days], "open": _hhmm(i.open), "close": _hhmm(i.close)}
              for i, days in sorted(by_interval.items(), key=lambda kv: (kv[1][0], kv[0]))]
    holidays = [{"date": d.isoformat(),
                 **({"name": cal.holiday_names[d]} if d in cal.holiday_names else {}),
                 **({"hours": [{"open": _hhmm(i.open), "close": _hhmm(i.close)} for i in hs]}
                    if hs else {})}
                for d, hs in sorted(cal.holidays.items())]
    recurring = [{"rule": r.rule, **({"name": r.name} if r.name else {}),
                  **({"hours": [{"open": _hhmm(i.open), "close": _hhmm(i.close)} for i in r.hours]}
                     if r.hours else {})}
                 for r in cal.recurring]
    return {"time_zone": cal.time_zone, "weekly": weekly, "holidays": holidays,
            **({"recurring": recurring} if recurring else {})}


def after_hours(data: Any, where: str = "after_hours") -> dict[str, Any]:
    """An after-hours route in its canonical JSON (the queue's existence is checked by the
    service)."""
    f = Fields(data, where, {"action", "queue", "prompt"})
    action = f.text("action", default="announcement")
    if action not in AFTER_HOURS:
        raise sch.Invalid(f"{f.at('action')}: one of {', '.join(AFTER_HOURS)}",
                      error_id="invalid-after-hours")
    if action == "queue":
        if f.has("prompt"):
            raise sch.Invalid(f"{f.at('prompt')}: not for the action queue",
                              error_id="invalid-after-hours")
        return {"action": action, "queue": f.text("queue", sch.NAME)}
    if f.has("queue"):
        raise sch.Invalid(f"{f.at('queue')}: only for the action queue", error_id="invalid-after-hours")
    if f.has("prompt"):
        return {"action": action, "prompt": f.text("prompt", sch.TENANT_PROMPT_REF)}
    return {"action": action}


ANNOUNCEMENT: Mapping[str, Any] = {"action": "announcement"}


def route_of(number: Mapping[str, Any] | None,
             tenant: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The after-hours route a number takes: its own, else its tenant's, else the built-in
    announcement (both as stored, checked when they were saved)."""
    return number or tenant or ANNOUNCEMENT


def stored(value: Mapping[str, Any] | None) -> Calendar | None:
    """A calendar as stored (checked when it was saved), or None."""
    return parse(value) if value else None


def now_and_next(value: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """``open_now`` (None: no hours) and ``next_change`` (ISO 8601 in the calendar's zone, or
    None) of a stored calendar at ``now`` (a UNIX time)."""
    cal = stored(value)
    if cal is None:
        return {"open_now": None, "next_change": None}
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    change = next_change(cal, at)
    return {"open_now": is_open(cal, at),
            "next_change": change.astimezone(cal.zone).isoformat() if change else None}
