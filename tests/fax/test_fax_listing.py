"""The fax list's pure core: the page's query read into filters, the faxes found turned into
the rows and the neighbouring pages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ccari.errors import BadRequest
from ccari.fax import listing
from ccari.fax.listing import Attempt, Filters, Found, Received, Sent

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


@pytest.mark.parametrize(("query", "error_id"), [
    ({"direction": "inbound"}, "bad-direction"),
    ({"status": "lost"}, "bad-status"),
    ({"from": "yesterday"}, "bad-period"),
    ({"from": "2026-07-02", "to": "2026-07-01"}, "bad-period"),
    ({"from": "2025-01-01", "to": "2026-07-01"}, "bad-period"),  # over a year
    ({"number": "<script>"}, "bad-number"),
    ({"number": "1" * 40}, "bad-number"),
    ({"page": "0"}, "bad-page"),
    ({"page": "-1"}, "bad-page"),
    ({"page": "2.5"}, "bad-page"),
    ({"page": "9" * 20}, "bad-page"),
    ({"size": "1000"}, "bad-page"),  # a page is bounded
    ({"size": "7"}, "bad-page"),
])
def test_a_filter_the_page_does_not_know_is_refused_with_its_id(
        query: dict[str, str], error_id: str) -> None:
    with pytest.raises(BadRequest) as refused:
        listing.parse(query, LONDON)
    assert refused.value.error_id == error_id


def test_no_query_is_every_fax_newest_page_of_the_default_size() -> None:
    f = listing.parse({}, LONDON)
    assert (f.direction, f.status, f.since, f.until, f.number) == ("", "", None, None, "")
    assert (f.page, f.size, f.offset) == (1, listing.DEFAULT_SIZE, 0)
    assert f.received() and f.sent()


def test_days_are_the_tenants_and_both_are_included() -> None:
    f = listing.parse({"from": "2026-07-01", "to": "2026-07-02", "page": "3", "size": "25",
                       "number": "+1 (201) 555"}, LONDON)
    # British Summer Time: the tenant's midnight is 23:00 UTC the day before.
    assert f.since == dt.datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert f.until == dt.datetime(2026, 7, 2, 23, tzinfo=UTC)
    assert (f.number, f.offset) == ("1201555", 50)


@pytest.mark.parametrize(("query", "received", "sent"), [
    ({"direction": "received"}, True, False),
    ({"direction": "sent"}, False, True),
    ({"status": "partial"}, True, False),  # only a received fax is partial
    ({"status": "retrying"}, False, True),  # only a sent one is retried
    ({"status": "failed"}, True, True),  # either may fail
    ({"direction": "sent", "status": "partial"}, False, False),
])
def test_direction_and_status_say_which_faxes_can_match(
        query: dict[str, str], received: bool, sent: bool) -> None:
    f = listing.parse(query, LONDON)
    assert (f.received(), f.sent()) == (received, sent)


def test_links_to_other_pages_keep_the_filters() -> None:
    f = listing.parse({"direction": "sent", "status": "failed", "from": "2026-07-01",
                       "size": "25", "page": "2"}, LONDON)
    assert f.link(3) == "?direction=sent&status=failed&from=2026-07-01&size=25&page=3"
    assert listing.parse({}, LONDON).link(2) == "?page=2"  # the defaults are not repeated


def test_a_refused_form_is_shown_again_as_it_was_filled() -> None:
    assert listing.echo({"direction": "<b>", "page": "9"}) == {
        "direction": "<b>", "status": "", "from": "", "to": "", "number": "", "size": ""}


def test_the_zone_is_the_tenants_business_hours_zone_else_utc() -> None:
    assert listing.zone({"time_zone": "Europe/London"}).key == "Europe/London"
    assert listing.zone(None).key == "UTC"
    assert listing.zone({"time_zone": "Not/AZone"}).key == "UTC"


AT = dt.datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_rows_say_what_came_and_what_went_on_the_tenants_clock() -> None:
    partial = Received("f1", AT, "partial", "15550177", "ACME 1", 1, "HANGUP",
                       "remote hung up", "f1", True, "Alice")
    failed = Received("f2", AT, "failed", None, None, 0, "no-fax", "no-fax", "f2", False, None)
    sent = Sent("s1", AT, "sent", "12015550100", 2, None, (
        Attempt("failed", 0, "user-busy", AT), Attempt("sent", 2, None, AT)),
        sent_by="tenant-token", station_id="+1 201 555 0100")
    retrying = Sent("s2", AT, "retrying", "12015550101", 1,
                    AT + dt.timedelta(minutes=5), (Attempt("failed", 0, "no-answer", AT),),
                    sent_by="admin-token")
    got = listing.page(Found(4, (partial, failed, sent, retrying)), Filters(size=25), LONDON)
    p, f, s, r = got.rows
    assert (p.direction, p.when, p.number, p.station_id, p.pages, p.status, p.reason, p.agent,
            p.contact_id, p.pdf) == ("received", "2026-07-01 10:30:00", "15550177", "ACME 1",
                                     "1", "partial", "HANGUP: remote hung up", "Alice", "f1",
                                     True)
    assert (f.reason, f.pdf, f.number) == ("no-fax", False, "")  # the same words once
    assert (s.direction, s.number, s.pages, s.status, s.contact_id, s.pdf) == (
        "sent", "+12015550100", "2", "sent", None, True)
    # Who asked for it, and the station id the machine that took it gave.
    assert (s.agent, s.station_id) == ("API (tenant token)", "+1 201 555 0100")
    assert (r.agent, r.station_id) == ("API (admin token)", "")  # no machine answered yet
    assert s.attempts == ("failed, 0 of 2 pages, user-busy (2026-07-01 10:30:00)",
                          "sent, 2 of 2 pages (2026-07-01 10:30:00)")
    assert r.reason == "dialled again at 2026-07-01 10:35:00"
    assert (got.total, got.page, got.pages, got.previous, got.next) == (4, 1, 1, None, None)


def test_an_attempt_after_the_first_says_who_asked_for_it() -> None:
    sent = Sent("s1", AT, "sent", "12015550100", 1, None, (
        Attempt("failed", 0, "user-busy", AT, requested_by="tenant-token"),
        Attempt("failed", 0, "no-answer", AT, requested_by="retry"),
        Attempt("failed", 0, "user-busy", AT, requested_by="admin-token"),
        Attempt("failed", 0, "user-busy", AT),  # before ccari recorded it
        Attempt("sent", 1, None, AT, requested_by="tenant-token")), sent_by="tenant-token")
    [row] = listing.page(Found(1, (sent,)), Filters(size=25), LONDON).rows
    assert row.agent == "API (tenant token)"  # the first attempt's: the send's own column
    assert row.attempts == (
        "failed, 0 of 1 page, user-busy (2026-07-01 10:30:00)",
        "failed, 0 of 1 page, no-answer (2026-07-01 10:30:00), dialled again by itself",
        "failed, 0 of 1 page, user-busy (2026-07-01 10:30:00), resent by API (admin token)",
        "failed, 0 of 1 page, user-busy (2026-07-01 10:30:00)",
        "sent, 1 of 1 page (2026-07-01 10:30:00), resent by API (tenant token)")


@pytest.mark.parametrize(("total", "page", "pages", "previous", "following"), [
    (0, 1, 1, None, None),
    (25, 1, 1, None, None),
    (26, 1, 2, None, "?size=25&page=2"),
    (60, 2, 3, "?size=25&page=1", "?size=25&page=3"),
    (60, 3, 3, "?size=25&page=2", None),
])
def test_paging(total: int, page: int, pages: int, previous: str | None,
                following: str | None) -> None:
    f = listing.parse({"size": "25", "page": str(page)}, LONDON)
    got = listing.page(Found(total, ()), f, LONDON)
    assert (got.pages, got.previous, got.next) == (pages, previous, following)
