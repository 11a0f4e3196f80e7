"""Business hours and holidays: is a tenant (or one of its numbers) open at an instant?

Pure: no I/O and no clock of its own; the instant is passed in (an aware datetime).

A :class:`Calendar` holds, in one IANA time zone:

* the weekly hours: for each weekday (0 = Monday) the intervals that *open* on that day, in
  minutes after the local midnight.  ``close`` may pass midnight (up to 48:00, written
  "26:00" for 02:00 the next morning, as transit timetables do): a night shift is one
  interval, and what opens on a Friday stays Friday's even after midnight;
* holidays: a local date whose own intervals replace the weekday's (none: closed all day).
  An interval that opened the day before and runs past midnight is the day before's, so a
  holiday does not cut a night shift that began on a working day;
* recurring holidays: an iCalendar rule (:mod:`ccari.hours.recurrence`, "every 25
  December", "the first Monday of May") with its own intervals, read like a dated holiday
  on each local date it falls on.  A dated holiday wins over a rule; the first rule that
  falls on a date wins over the others.

Local times become instants the way iCalendar (RFC 5545) reads them: a time the clock skips
when daylight saving time starts is read with the offset before the change (02:30 is 03:30
that night); a time that happens twice when it ends is its first occurrence.  Open intervals
are ``[open, close)``; intervals that touch (Friday until 24:00, Saturday from 00:00) are one
opening, so :func:`next_change` never reports a change that is none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ccari.hours.recurrence import falls_on

DAY_MINUTES = 24 * 60
MAX_CLOSE = 2 * DAY_MINUTES  # an interval ends by 48:00 of the day it opens
HORIZON_DAYS = 400  # how far next_change looks (a year of holidays, and then some)


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """Open from ``open`` to ``close`` minutes after the local midnight of its day."""

    open: int
    close: int

    def __post_init__(self) -> None:
        if not 0 <= self.open < DAY_MINUTES:
            raise ValueError(f"an interval opens from 00:00 to 23:59, not minute {self.open}")
        if not self.open < self.close <= min(self.open + DAY_MINUTES, MAX_CLOSE):
            raise ValueError("an interval closes after it opens, and within 24 hours")


@dataclass(frozen=True, slots=True)
class Recurring:
    """A holiday on every date a (checked) rule falls on, open only in ``hours``."""

    rule: str
    hours: tuple[Interval, ...] = ()
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Calendar:
    time_zone: str
    weekly: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    holidays: Mapping[dt.date, tuple[Interval, ...]] = field(default_factory=dict)
    recurring: tuple[Recurring, ...] = ()
    # What the dated holidays are called (shown to admins; no bearing on the hours).
    holiday_names: Mapping[dt.date, str] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def day(self, date: dt.date) -> tuple[Interval, ...]:
        """The intervals that open on this local date."""
        if date in self.holidays:
            return self.holidays[date]
        for holiday in self.recurring:
            if falls_on(holiday.rule, date):
                return holiday.hours
        return self.weekly.get(date.weekday(), ())


ALWAYS_OPEN = Calendar("UTC", {d: (Interval(0, DAY_MINUTES),) for d in range(7)})


def overlaps(weekly: Mapping[int, tuple[Interval, ...]]
             ) -> tuple[tuple[int, Interval], tuple[int, Interval]] | None:
    """Two weekly intervals open at the same time (past midnight too, Sunday's night into
    Monday), each as (day, interval); None if none are."""
    week = 7 * DAY_MINUTES
    spans = sorted((day * DAY_MINUTES + i.open + shift, day * DAY_MINUTES + i.close + shift,
                    day, i) for day, intervals in weekly.items() for i in intervals
                   for shift in (0, week))
    for (_, end, day, i), (start2, _, day2, i2) in zip(spans, spans[1:], strict=False):
        if start2 < end:
            return (day, i), (day2, i2)
    return None


def day_overlaps(intervals: tuple[Interval, ...]) -> tuple[Interval, Interval] | None:
    """Two intervals of one day (a holiday's) open at the same time; None if none do."""
    ordered = sorted(intervals)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.open < a.close:
            return a, b
    return None


def _instant(date: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    wall = dt.datetime.combine(date, dt.time(), tzinfo=zone) + dt.timedelta(minutes=minutes)
    return wall.astimezone(dt.UTC)  # fold=0: RFC 5545 for skipped and repeated times


def _spans(cal: Calendar, first: dt.date, days: int) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """The open spans (UTC) of the intervals opening on ``days`` local dates from ``first``,
    in order, touching or overlapping ones merged."""
    zone = cal.zone
    current: tuple[dt.datetime, dt.datetime] | None = None
    for n in range(days):
        date = first + dt.timedelta(days=n)
        for i in sorted(cal.day(date)):
            start, end = _instant(date, i.open, zone), _instant(date, i.close, zone)
            if end <= start:  # swallowed by the clock's jump forward
                continue
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
    if current is not None:
        yield current


def _local_date(cal: Calendar, at: dt.datetime) -> dt.date:
    if at.tzinfo is None:
        raise ValueError("the instant must be an aware datetime")
    return at.astimezone(cal.zone).date()


def is_open(cal: Calendar, at: dt.datetime) -> bool:
    """Is the calendar open at this instant?"""
    yesterday = _local_date(cal, at) - dt.timedelta(days=1)
    return any(start <= at < end for start, end in _spans(cal, yesterday, 2))


def next_change(cal: Calendar, at: dt.datetime) -> dt.datetime | None:
    """The first instant after ``at`` where :func:`is_open` gives the other answer (UTC);
    None if there is none within ``HORIZON_DAYS`` (always open, or closed for good)."""
    first = _local_date(cal, at) - dt.timedelta(days=1)
    limit = _instant(first + dt.timedelta(days=HORIZON_DAYS), 0, cal.zone)
    for start, end in _spans(cal, first, HORIZON_DAYS + 1):
        if end <= at:
            continue
        change = end if start <= at else start
        return change if change < limit else None
    return None
