"""Recurring holidays: iCalendar rules read on the calendar's local dates, in tables across
years and time zones, then as the calendar's closed and open hours; rules refused by name."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccari.hours.calendar import (
    DAY_MINUTES,
    Calendar,
    Interval,
    Recurring,
    is_open,
    next_change,
)
from ccari.hours.recurrence import BadRule, check, falls_on

CHRISTMAS = "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"
MAY_DAY = "FREQ=YEARLY;BYMONTH=5;BYDAY=1MO"  # the first Monday of May
SPRING_BANK = "FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO"  # the last Monday of May
GOOD_FRIDAY = "FREQ=YEARLY;BYEASTER=-2"
THANKSGIVING = "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH"
FIRST_FRIDAY = "FREQ=MONTHLY;BYDAY=1FR"


@pytest.mark.parametrize(("rule", "dates"), [
    (CHRISTMAS, ["2026-12-25", "2027-12-25", "2028-12-25", "2029-12-25", "2030-12-25"]),
    (MAY_DAY, ["2026-05-04", "2027-05-03", "2028-05-01", "2029-05-07", "2030-05-06"]),
    (SPRING_BANK, ["2026-05-25", "2027-05-31", "2028-05-29"]),
    (GOOD_FRIDAY, ["2026-04-03", "2027-03-26", "2028-04-14", "2029-03-30"]),
    (THANKSGIVING, ["2026-11-26", "2027-11-25", "2028-11-23"]),
    (FIRST_FRIDAY, ["2026-01-02", "2026-02-06", "2026-03-06", "2027-01-01"]),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", ["2028-02-29", "2032-02-29"]),  # leap years only
    ("FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1;UNTIL=20271231", ["2026-01-01", "2027-01-01"]),
])
def test_a_rule_falls_on_its_days_and_no_other_across_the_years(rule: str,
                                                                 dates: list[str]) -> None:
    canonical = check(rule)
    wanted = {dt.date.fromisoformat(d) for d in dates}
    years = {d.year for d in wanted}
    for year in range(min(years), max(years) + 1):
        day = dt.date(year, 1, 1)
        while day.year == year:
            if day in wanted or falls_on(canonical, day):
                if rule.startswith("FREQ=MONTHLY") and day not in wanted:
                    assert day.weekday() == 4 and day.day <= 7  # the other first Fridays
                else:
                    assert (day in wanted, falls_on(canonical, day)) == (True, True), day
            day += dt.timedelta(days=1)
    if "UNTIL" in rule:
        assert not falls_on(canonical, dt.date(2028, 1, 1))


@pytest.mark.parametrize(("rule", "canonical"), [
    ("freq=yearly;bymonth=5;byday=1mo", MAY_DAY),
    ("RRULE:FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25", CHRISTMAS),
    (" FREQ=YEARLY; BYEASTER=-2 ", GOOD_FRIDAY),
])
def test_a_rule_is_kept_in_one_form(rule: str, canonical: str) -> None:
    assert check(rule) == canonical


@pytest.mark.parametrize(("rule", "why"), [
    ("", "1 to 200 characters"),
    (7, "1 to 200 characters"),
    ("FREQ=YEARLY;" * 30, "1 to 200 characters"),
    ("FREQ=YEARLY", "say which days"),
    ("FREQ=DAILY;BYMONTH=1", "FREQ must be one of"),
    ("FREQ=HOURLY;BYHOUR=9", "BYHOUR is not taken"),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=1", "INTERVAL is not taken"),
    ("FREQ=YEARLY;COUNT=3;BYMONTH=1", "COUNT is not taken"),
    ("DTSTART=20260101;FREQ=YEARLY;BYMONTH=1", "DTSTART is not taken"),
    ("FREQ=YEARLY;BYMONTH=1;BYMONTH=2", "given twice"),
    ("FREQ=YEARLY;BYMONTH", "is not NAME=VALUE"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never falls on a day"),
    ("FREQ=YEARLY;BYMONTH=13", "never falls on a day"),
    ("FREQ=YEARLY;BYDAY=XX", "not a recurrence rule"),
    ("FREQ=YEARLY;BYMONTH=1;UNTIL=2030", "UNTIL is a date"),
    ("FREQ=YEARLY;BYMONTH=1;UNTIL=20301399", "UNTIL is a date"),
    ("FREQ=YEARLY;BYEASTER=1;BYMONTH=4", "BYEASTER stands alone"),
    ("FREQ=MONTHLY;BYEASTER=1", "BYEASTER stands alone"),
    ("FREQ=WEEKLY;BYMONTH=1", "name the weekdays"),
    ("FREQ=YEARLY;BYWEEKNO=20", "name the weekdays"),
    ("FREQ=YEARLY;BYSETPOS=1", "name the weekdays"),
    # Impossible, however it is written: refused after a bounded walk.
    ("FREQ=WEEKLY;BYYEARDAY=400;BYDAY=MO", "never falls on a day"),
    ("FREQ=YEARLY;BYWEEKNO=60;BYDAY=MO", "never falls on a day"),
])
def test_rules_ccari_does_not_take_are_refused_saying_why(rule: object, why: str) -> None:
    with pytest.raises(BadRule, match=why):
        check(rule)


def test_leap_days_and_sparse_rules_across_centuries() -> None:
    leap = check("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
    assert [y for y in range(2096, 2105) if falls_on(leap, dt.date(y, 2, 28) +
                                                   dt.timedelta(days=1))] == [2096, 2104]
    monday_29th = check("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")  # every 28 years or so
    assert [y for y in range(2000, 2060) if y % 4 == 0 and falls_on(monday_29th,
                                                                    dt.date(y, 2, 29))] == [
        2016, 2044]


WEEKDAYS = {d: (Interval(9 * 60, 17 * 60),) for d in range(5)}


def calendar(zone: str, *recurring: Recurring,
             holidays: dict[dt.date, tuple[Interval, ...]] | None = None) -> Calendar:
    return Calendar(zone, WEEKDAYS, holidays or {}, recurring)


@pytest.mark.parametrize(("zone", "instant", "open_"), [
    # The first Monday of May, 10:00 local, in three zones and three years: closed.
    ("Europe/London", "2026-05-04T10:00:00+01:00", False),
    ("Europe/London", "2027-05-03T10:00:00+01:00", False),
    ("Europe/London", "2028-05-01T10:00:00+01:00", False),
    ("America/New_York", "2026-05-04T10:00:00-04:00", False),
    ("Asia/Tokyo", "2026-05-04T10:00:00+09:00", False),
    # The Tuesday after, and the second Monday: open as every weekday.
    ("Europe/London", "2026-05-05T10:00:00+01:00", True),
    ("Europe/London", "2026-05-11T10:00:00+01:00", True),
    ("Europe/London", "2027-05-04T10:00:00+01:00", True),
])
def test_a_recurring_holiday_closes_its_local_date_in_the_calendars_zone(
        zone: str, instant: str, open_: bool) -> None:
    cal = calendar(zone, Recurring(check(MAY_DAY)))
    assert is_open(cal, dt.datetime.fromisoformat(instant)) is open_


ALL_DAY = {d: (Interval(0, DAY_MINUTES),) for d in range(5)}


@pytest.mark.parametrize(("instant", "open_in"), [
    # Monday 4 May 2026 20:00 UTC: 21:00 Monday in London, 16:00 Monday in New York (the
    # holiday in both), 05:00 Tuesday in Tokyo (an ordinary Tuesday).
    ("2026-05-04T20:00:00+00:00", {"Asia/Tokyo"}),
    # 23:30 UTC: Tuesday 00:30 in London, still Monday 19:30 in New York.
    ("2026-05-04T23:30:00+00:00", {"Asia/Tokyo", "Europe/London"}),
    # Sunday 3 May 2026 16:00 UTC: Monday 01:00 in Tokyo (its holiday), Sunday elsewhere.
    ("2026-05-03T16:00:00+00:00", set()),
    # Monday 4 May 2026 04:30 UTC: 13:30 Tokyo, 05:30 London (the holiday), and
    # Monday 00:30 in New York (the holiday).
    ("2026-05-04T04:30:00+00:00", set()),
    # Tuesday 5 May 2026 03:00 UTC: Tuesday in Tokyo and London, Monday 23:00 in New York.
    ("2026-05-05T03:00:00+00:00", {"Asia/Tokyo", "Europe/London"}),
])
def test_one_instant_is_on_the_holiday_in_one_zone_and_not_in_another(
        instant: str, open_in: set[str]) -> None:
    at = dt.datetime.fromisoformat(instant)
    for zone in ("Asia/Tokyo", "Europe/London", "America/New_York"):
        cal = Calendar(zone, ALL_DAY, {}, (Recurring(check(MAY_DAY)),))
        assert is_open(cal, at) is (zone in open_in), zone


def test_its_own_hours_and_the_dated_holidays_win() -> None:
    eve = Recurring(check("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24"),
                    (Interval(9 * 60, 12 * 60),), "Christmas Eve")
    cal = calendar("Europe/Paris", eve, Recurring(check(CHRISTMAS)),
                   holidays={dt.date(2027, 12, 24): ()})  # closed all day that year only
    paris = dt.timezone(dt.timedelta(hours=1))
    assert is_open(cal, dt.datetime(2026, 12, 24, 11, 0, tzinfo=paris))
    assert not is_open(cal, dt.datetime(2026, 12, 24, 13, 0, tzinfo=paris))
    assert not is_open(cal, dt.datetime(2026, 12, 25, 10, 0, tzinfo=paris))
    assert not is_open(cal, dt.datetime(2027, 12, 24, 11, 0, tzinfo=paris))
    assert is_open(cal, dt.datetime(2028, 12, 25, 10, 0, tzinfo=paris)) is False  # a Monday
    # Thursday 24 December 2026 12:00: closed until Monday 28th (25th the rule, then a weekend).
    change = next_change(cal, dt.datetime(2026, 12, 24, 11, 0, tzinfo=paris))
    assert change == dt.datetime(2026, 12, 24, 12, 0, tzinfo=paris)
    change = next_change(cal, dt.datetime(2026, 12, 24, 12, 0, tzinfo=paris))
    assert change == dt.datetime(2026, 12, 28, 9, 0, tzinfo=paris)


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_a_yearly_rule_falls_on_exactly_the_dates_its_parts_name(day: dt.date) -> None:
    first_monday_of_may = day.month == 5 and day.weekday() == 0 and day.day <= 7
    assert falls_on(check(MAY_DAY), day) is first_monday_of_may
    assert falls_on(check(CHRISTMAS), day) is (day.month == 12 and day.day == 25)
