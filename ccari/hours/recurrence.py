"""Recurring holidays: iCalendar (RFC 5545) recurrence rules read by ``python-dateutil``.

Pure: a rule and a local date in, whether the holiday falls on it out.  A rule names days,
never times, so it is read on local dates of the calendar's own time zone (the caller turns an
instant into its local date first)::

    FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25    every 25 December
    FREQ=YEARLY;BYMONTH=5;BYDAY=1MO         the first Monday of May
    FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO        the last Monday of May
    FREQ=YEARLY;BYEASTER=1                  Easter Monday (dateutil's extension)
    FREQ=MONTHLY;BYDAY=1FR                  the first Friday of every month

A rule repeats every year, month or week (``FREQ`` YEARLY, MONTHLY or WEEKLY) and says which
days with ``BY`` parts (at least one); what the parts leave out is the 1st (of January, of
the month), as RFC 5545 reads a rule from a start on 1 January.  It may end
(``UNTIL=20301231``).  ``BYEASTER`` stands alone (an offset from Easter Sunday, every year).
A weekly rule, and a rule with ``BYWEEKNO`` or only ``BYSETPOS``, names its weekdays
(``BYDAY``).  ``INTERVAL``, ``COUNT``, ``DTSTART`` and the parts finer than a day depend on
a start or a time of day and are refused, as is a rule that never falls on a day
(``BYMONTH=2;BYMONTHDAY=30``).

Bounded work: dateutil walks a rule that yields nothing up to the year 9999, so a year is read
in its twin of the Gregorian 400-year cycle just below 9999 (same weekdays, same leap years):
at most 400 years are ever walked.  Easter, which does not repeat so, is read in its own year
(where it always falls).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY")
BY_DAY = ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYSETPOS", "BYYEARDAY", "BYWEEKNO", "BYEASTER")
MAX_LEN = 200
CYCLE = 400  # years: the Gregorian calendar repeats itself exactly
TWIN_FROM = dt.MAXYEAR - CYCLE + 1  # a year is read in its twin from here to 9999


class BadRule(ValueError):
    """A rule ccari cannot take; the message says why."""


def check(rule: object) -> str:
    """The rule in its canonical form (parts upper-case, in the order written), or
    :class:`BadRule`."""
    if not isinstance(rule, str) or not rule.strip() or len(rule) > MAX_LEN:
        raise BadRule(f"a recurrence rule of 1 to {MAX_LEN} characters is required")
    parts: list[tuple[str, str]] = []
    for item in rule.strip().upper().removeprefix("RRULE:").split(";"):
        key, eq, value = item.strip().partition("=")
        if not eq or not value:
            raise BadRule(f"{item!r} is not NAME=VALUE")
        if key != "FREQ" and key != "UNTIL" and key not in BY_DAY:
            raise BadRule(f"{key} is not taken: FREQ, UNTIL and {', '.join(BY_DAY)}")
        if any(k == key for k, _ in parts):
            raise BadRule(f"{key} is given twice")
        parts.append((key, value))
    given = dict(parts)
    if given.get("FREQ") not in FREQUENCIES:
        raise BadRule(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    if not set(given) & set(BY_DAY):
        raise BadRule("say which days with a BY part, e.g. BYMONTH=12;BYMONTHDAY=25")
    if "UNTIL" in given and not (len(given["UNTIL"]) == 8 and given["UNTIL"].isdigit()):
        raise BadRule("UNTIL is a date YYYYMMDD")
    if "BYEASTER" in given and (set(given) - {"FREQ", "UNTIL", "BYEASTER"}
                                or given["FREQ"] != "YEARLY"):
        raise BadRule("BYEASTER stands alone (with FREQ=YEARLY and UNTIL)")
    if "BYDAY" not in given and (given["FREQ"] == "WEEKLY" or "BYWEEKNO" in given
                                 or not set(given) & (set(BY_DAY) - {"BYSETPOS"})):
        raise BadRule("name the weekdays with BYDAY (e.g. BYDAY=MO)")
    if "UNTIL" in given:
        try:
            dt.datetime.strptime(given["UNTIL"], "%Y%m%d")
        except ValueError:
            raise BadRule("UNTIL is a date YYYYMMDD") from None
    canonical = ";".join(f"{k}={v}" for k, v in parts)
    try:
        first = _rule(canonical, dt.datetime(TWIN_FROM, 1, 1)).after(
            dt.datetime(TWIN_FROM, 1, 1), inc=True)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise BadRule(f"not a recurrence rule: {exc}") from None
    if first is None and "BYEASTER" not in given:
        raise BadRule("the rule never falls on a day")
    return canonical


def _rule(canonical: str, start: dt.datetime) -> rrule:
    """The rule from ``start`` (its end, if any, is applied by :func:`falls_on`)."""
    without_end = ";".join(p for p in canonical.split(";") if not p.startswith("UNTIL="))
    parsed = rrulestr(without_end, dtstart=start)
    assert isinstance(parsed, rrule)
    return parsed


def _twin(year: int) -> int:
    """The year of the last 400-year cycle below 9999 with ``year``'s calendar."""
    return year + CYCLE * -(-(TWIN_FROM - year) // CYCLE) if year < TWIN_FROM else year


@lru_cache(maxsize=4096)
def _days(canonical: str, year: int) -> frozenset[dt.date]:
    """The days of one year the (checked) rule falls on, its end aside."""
    read = year if "BYEASTER=" in canonical else _twin(year)
    start, end = dt.datetime(read, 1, 1), dt.datetime(read, 12, 31)
    found = _rule(canonical, start).between(start, end, inc=True)
    return frozenset(dt.date(year, d.month, d.day) for d in found)


def falls_on(canonical: str, date: dt.date) -> bool:
    """Does the (checked) rule fall on this local date?"""
    _, _, until = canonical.partition("UNTIL=")
    if until and date > dt.datetime.strptime(until[:8], "%Y%m%d").date():
        return False
    return date in _days(canonical, date.year)
