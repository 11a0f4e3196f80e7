"""A holiday's name is kept: set through the API or the hours form, it comes back from the API
and is shown (escaped) on the tenant's page beside its date, and the form shows it to edit."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from ccari.provisioning import forms
from tests.provisioning.test_http import ADMIN, ok
from tests.provisioning.test_pages import login, post

ADMIN_TOKEN = ADMIN["Authorization"].split()[1]


async def test_holiday_names_are_kept_and_shown_on_the_hours_page(client: TestClient) -> None:
    await ok(await client.put("/api/tenants/acme/hours", headers=ADMIN, json={
        "time_zone": "Europe/London",
        "weekly": [{"days": ["mon", "tue"], "open": "09:00", "close": "17:00"}],
        "holidays": [{"date": "2026-12-25", "name": "Christmas <Day>"},
                     {"date": "2026-12-24", "name": "Christmas Eve",
                      "hours": [{"open": "09:00", "close": "12:00"}]},
                     {"date": "2027-01-01"}],
        "recurring": [{"rule": "FREQ=YEARLY;BYMONTH=5;BYDAY=1MO", "name": "May Day"}]}))
    got = (await ok(await client.get("/api/tenants/acme/hours", headers=ADMIN)))["hours"]
    assert got["holidays"] == [
        {"date": "2026-12-24", "name": "Christmas Eve", "hours": [{"open": "09:00", "close": "12:00"}]},
        {"date": "2026-12-25", "name": "Christmas <Day>"}, {"date": "2027-01-01"}]
    csrf = await login(client, ADMIN_TOKEN)
    page = await (await client.get("/admin/tenants/acme")).text()
    assert '<li data-holiday="2026-12-25">2026-12-25 <strong>Christmas &lt;Day&gt;</strong>: closed' \
        in page, page
    assert "2026-12-24 <strong>Christmas Eve</strong>: open 09:00-12:00" in page
    assert '<li data-holiday="2027-01-01">2027-01-01: closed' in page
    assert "<strong>May Day</strong>" in page
    # The form shows them to edit, and saving the form keeps them.
    assert "2026-12-24 09:00-12:00 Christmas Eve\n2026-12-25 Christmas &lt;Day&gt;" in page
    resp = await post(client, "/admin/tenants/acme/hours", csrf, time_zone="Europe/London",
                      weekly="mon 09:00-17:00",
                      holidays="2026-12-26 Boxing Day\n2026-12-31 09:00-13:00 New Year's Eve")
    assert resp.status == 303, await resp.text()
    got = (await ok(await client.get("/api/tenants/acme/hours", headers=ADMIN)))["hours"]
    assert got["holidays"] == [
        {"date": "2026-12-26", "name": "Boxing Day"},
        {"date": "2026-12-31", "name": "New Year's Eve", "hours": [{"open": "09:00", "close": "13:00"}]}]


@pytest.mark.parametrize(("line", "want"), [
    ("2026-12-25", {"date": "2026-12-25"}),
    ("2026-12-25 Christmas Day", {"date": "2026-12-25", "name": "Christmas Day"}),
    ("2026-12-24 09:00-12:00 Christmas  Eve", {"date": "2026-12-24", "name": "Christmas Eve",
                                               "hours": [{"open": "09:00", "close": "12:00"}]}),
    ("2026-12-24 09:00-12:00 14:00-16:00", {"date": "2026-12-24", "hours": [
        {"open": "09:00", "close": "12:00"}, {"open": "14:00", "close": "16:00"}]}),
])
def test_a_holiday_line_of_the_form(line: str, want: dict[str, object]) -> None:
    assert forms.hours({"time_zone": "UTC", "holidays": line})["holidays"] == [want]
