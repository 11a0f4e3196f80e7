"""The business-hours core: tables of instants around DST changes, midnight and holidays, and
properties that hold for any calendar."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccari.hours.calendar import (
    ALWAYS_OPEN,
    DAY_MINUTES,
    Calendar,
    Interval,
    is_open,
    next_change,
    overlaps,
)

UTC = dt.UTC
WEEKDAYS = {d: (Interval(9 * 60, 17 * 60),) for d in range(5)}
PARIS = Calendar("Europe/Paris", WEEKDAYS)
# Friday and Saturday nights until 02:00; Christmas closed, Christmas Eve mornings only.
NIGHTS = Calendar("America/New_York",
                  {4: (Interval(20 * 60, 26 * 60),), 5: (Interval(20 * 60, 26 * 60),)})
HOLIDAYS = Calendar("Europe/Paris", WEEKDAYS, {
    dt.date(2026, 12, 25): (),
    dt.date(2026, 12, 24): (Interval(9 * 60, 12 * 60),),
    dt.date(2026, 12, 26): (Interval(10 * 60, 11 * 60),),  # a Saturday opened specially
})


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(("cal", "instant", "open_", "change"), [
    # Paris is UTC+1 in winter, UTC+2 in summer.
    (PARIS, "2026-12-07T08:59:59+01:00", False, "2026-12-07T09:00:00+01:00"),
    (PARIS, "2026-12-07T09:00:00+01:00", True, "2026-12-07T17:00:00+01:00"),
    (PARIS, "2026-12-07T16:59:59+01:00", True, "2026-12-07T17:00:00+01:00"),
    (PARIS, "2026-12-07T17:00:00+01:00", False, "2026-12-08T09:00:00+01:00"),
    (PARIS, "2026-12-04T18:00:00+01:00", False, "2026-12-07T09:00:00+01:00"),  # the weekend
    (PARIS, "2026-07-06T08:30:00+02:00", False, "2026-07-06T09:00:00+02:00"),  # summer time
    # The clocks go forward on Sunday 2026-03-29 and back on Sunday 2026-10-25: Monday's
    # 09:00 is local, whatever the offset.
    (PARIS, "2026-03-27T17:30:00+01:00", False, "2026-03-30T09:00:00+02:00"),
    (PARIS, "2026-10-23T17:30:00+02:00", False, "2026-10-26T09:00:00+01:00"),
    # Past midnight: Friday's night runs into Saturday 02:00 and Saturday's into Sunday's.
    (NIGHTS, "2026-12-05T01:59:00-05:00", True, "2026-12-05T02:00:00-05:00"),
    (NIGHTS, "2026-12-05T20:00:00-05:00", True, "2026-12-06T02:00:00-05:00"),
    (NIGHTS, "2026-12-06T02:00:00-05:00", False, "2026-12-11T20:00:00-05:00"),
    (NIGHTS, "2026-12-04T19:00:00-05:00", False, "2026-12-04T20:00:00-05:00"),
    # New York falls back on Sunday 2026-11-01 at 02:00 EDT: Saturday's night lasts 7 hours.
    (NIGHTS, "2026-11-01T01:30:00-04:00", True, "2026-11-01T02:00:00-05:00"),
    (NIGHTS, "2026-11-01T01:30:00-05:00", True, "2026-11-01T02:00:00-05:00"),
    # Holidays: Christmas closed, Christmas Eve until noon, Saturday the 26th one hour.
    (HOLIDAYS, "2026-12-24T11:00:00+01:00", True, "2026-12-24T12:00:00+01:00"),
    (HOLIDAYS, "2026-12-24T13:00:00+01:00", False, "2026-12-26T10:00:00+01:00"),
    (HOLIDAYS, "2026-12-25T10:00:00+01:00", False, "2026-12-26T10:00:00+01:00"),
    (HOLIDAYS, "2026-12-26T10:30:00+01:00", True, "2026-12-26T11:00:00+01:00"),
    (HOLIDAYS, "2026-12-26T11:00:00+01:00", False, "2026-12-28T09:00:00+01:00"),
])
def test_open_and_next_change(cal: Calendar, instant: str, open_: bool, change: str) -> None:
    assert is_open(cal, at(instant)) is open_
    assert next_change(cal, at(instant)) == at(change)


def test_a_holiday_does_not_cut_the_night_that_began_the_day_before() -> None:
    cal = Calendar(NIGHTS.time_zone, NIGHTS.weekly, {dt.date(2026, 12, 5): ()})
    assert is_open(cal, at("2026-12-05T01:00:00-05:00"))  # Friday's night, Saturday morning
    assert not is_open(cal, at("2026-12-05T21:00:00-05:00"))  # Saturday's night is off


def test_a_time_the_clock_skips_is_read_with_the_offset_before_the_change() -> None:
    # 2026-03-08, New York: 02:00 EST becomes 03:00 EDT.  Open 02:30-04:00 opens at 03:30.
    cal = Calendar("America/New_York", {6: (Interval(150, 240),)})
    assert not is_open(cal, at("2026-03-08T03:15:00-04:00"))
    assert is_open(cal, at("2026-03-08T03:30:00-04:00"))
    assert next_change(cal, at("2026-03-08T03:30:00-04:00")) == at("2026-03-08T04:00:00-04:00")


@pytest.mark.parametrize(("cal", "always"), [(ALWAYS_OPEN, True), (Calendar("UTC"), False)])
def test_a_calendar_that_never_changes_has_no_next_change(cal: Calendar, always: bool) -> None:
    now = at("2026-12-04T23:00:00+00:00")
    assert is_open(cal, now) is always
    assert next_change(cal, now) is None


def test_touching_intervals_are_one_opening() -> None:
    cal = Calendar("UTC", {0: (Interval(8 * 60, 12 * 60), Interval(12 * 60, DAY_MINUTES)),
                           1: (Interval(0, 60),)})
    assert next_change(cal, at("2026-12-07T09:00:00+00:00")) == at("2026-12-08T01:00:00+00:00")


@pytest.mark.parametrize(("weekly", "clash"), [
    ({0: (Interval(540, 720), Interval(700, 800))}, True),
    ({0: (Interval(540, 720), Interval(720, 800))}, False),  # touching is no overlap
    ({4: (Interval(1200, 1620),), 5: (Interval(60, 120),)}, True),  # Friday's night, Saturday
    ({6: (Interval(1200, 1620),), 0: (Interval(60, 120),)}, True),  # Sunday's, next Monday
    ({6: (Interval(1200, 1620),), 0: (Interval(180, 240),)}, False),
])
def test_overlapping_weekly_intervals_are_found(weekly: dict[int, tuple[Interval, ...]],
                                                clash: bool) -> None:
    assert (overlaps(weekly) is not None) is clash


@pytest.mark.parametrize(("opens", "closes"), [(600, 600), (600, 500), (0, 2 * DAY_MINUTES + 1),
                                               (DAY_MINUTES, DAY_MINUTES + 60), (600, 600 + 1441)])
def test_inverted_or_too_long_intervals_are_refused(opens: int, closes: int) -> None:
    with pytest.raises(ValueError):
        Interval(opens, closes)


# ---- properties ------------------------------------------------------------------------------
ZONES = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe",
                         "Asia/Kolkata", "America/Santiago"])


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    weekly: dict[int, tuple[Interval, ...]] = {}
    for day in draw(st.sets(st.integers(0, 6), max_size=7)):
        opens = draw(st.integers(0, DAY_MINUTES - 1))
        length = draw(st.integers(1, DAY_MINUTES))
        weekly[day] = (Interval(opens, opens + length),)
    if overlaps(weekly) is not None:  # keep one opening a day, shortened to fit
        weekly = {d: (Interval(i[0].open, min(i[0].close, DAY_MINUTES)),) for d, i in weekly.items()}
    holidays = {}
    for date in draw(st.sets(st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)), max_size=4)):
        holidays[date] = () if draw(st.booleans()) else (Interval(600, 660),)
    return Calendar(draw(ZONES), weekly, holidays)


INSTANTS = st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31),
                        timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(calendars(), INSTANTS)
def test_the_answer_changes_at_the_next_change_and_not_before(cal: Calendar,
                                                             now: dt.datetime) -> None:
    change = next_change(cal, now)
    if change is None:
        return
    assert change > now
    state = is_open(cal, now)
    assert is_open(cal, change) is not state
    assert is_open(cal, change - dt.timedelta(seconds=1)) is state
    midway = now + (change - now) / 2
    assert is_open(cal, midway) is state


@settings(max_examples=100, deadline=None)
@given(calendars(), INSTANTS)
def test_a_closed_holiday_is_closed_except_for_the_night_before(cal: Calendar,
                                                                now: dt.datetime) -> None:
    local = now.astimezone(cal.zone)
    previous = cal.day(local.date() - dt.timedelta(days=1))
    if cal.holidays.get(local.date()) == () and all(i.close <= DAY_MINUTES for i in previous):
        assert not is_open(cal, now)


@settings(max_examples=100, deadline=None)
@given(ZONES, INSTANTS, st.integers(0, 6))
def test_every_weekday_opening_is_local_whatever_the_offset(zone: str, now: dt.datetime,
                                                            day: int) -> None:
    cal = Calendar(zone, {day: (Interval(12 * 60, 13 * 60),)})
    change = next_change(cal, now)
    assert change is not None
    local = change.astimezone(cal.zone)
    opening = not is_open(cal, now)
    assert (local.hour, local.minute) == ((12, 0) if opening else (13, 0))
    assert local.weekday() == day


WEEKLY = st.dictionaries(
    st.integers(0, 6),
    st.lists(st.tuples(st.integers(0, 47), st.integers(1, 48)).map(
        lambda t: Interval(t[0] * 30, t[0] * 30 + t[1] * 30)), max_size=3).map(tuple),
    max_size=4)


@settings(max_examples=300, deadline=None)
@given(WEEKLY)
def test_overlaps_is_true_exactly_when_some_half_hour_of_the_week_is_open_twice(
        weekly: dict[int, tuple[Interval, ...]]) -> None:
    covered = [0] * (7 * 48)
    for day, intervals in weekly.items():
        for i in intervals:
            for slot in range(i.open // 30, i.close // 30):
                covered[(day * 48 + slot) % (7 * 48)] += 1
    assert (overlaps(weekly) is not None) is (max(covered, default=0) > 1)
