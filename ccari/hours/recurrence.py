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
days with ``BY`` parts (at least one); what the parts leave out comes from 1 January 2000, a
Saturday (``FREQ=YEARLY;BYMONTH=6`` is every 1 June), as RFC 5545 reads a rule from its start.
It may end (``UNTIL=20301231``).  ``INTERVAL``, ``COUNT``, ``DTSTART`` and the parts
finer than a day depend on a start or a time of day and are refused, as is a rule that never
falls on a day (``BYMONTH=2;BYMONTHDAY=30``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY")
BY_DAY = ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYSETPOS", "BYYEARDAY", "BYWEEKNO", "BYEASTER")
MAX_LEN = 200
# Every rule counts from here (a Saturday); the rules taken do not depend on it, but no
# holiday falls before it.
ANCHOR = dt.datetime(2000, 1, 1)
# A rule must fall on some day before this.
HORIZON = dt.datetime(2100, 1, 1)


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
    canonical = ";".join(f"{k}={v}" for k, v in parts)
    try:
        parsed = _rule(canonical)
        if "UNTIL" in given:
            dt.datetime.strptime(given["UNTIL"], "%Y%m%d")
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise BadRule(f"not a recurrence rule: {exc}") from None
    if parsed.before(HORIZON) is None:
        raise BadRule("the rule never falls on a day")
    return canonical


def _rule(canonical: str) -> rrule:
    parsed = rrulestr(canonical, dtstart=ANCHOR)
    assert isinstance(parsed, rrule)
    return parsed


@lru_cache(maxsize=4096)
def _days(canonical: str, year: int) -> frozenset[dt.date]:
    """The days of one year the (checked) rule falls on."""
    found = _rule(canonical).between(dt.datetime(year, 1, 1), dt.datetime(year, 12, 31),
                                     inc=True)
    return frozenset(d.date() for d in found)


def falls_on(canonical: str, date: dt.date) -> bool:
    """Does the (checked) rule fall on this local date?"""
    return date in _days(canonical, date.year)
