"""The admin pages in Chromium: the tenant settings forms (recording, blending, wrap-up
codes, a number's own hours with a recurring holiday), a refusal shown beside its form, then
the tenant renamed and deleted (the page's confirmation accepted)."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.storage.models import Tenant
from tests.provisioning.test_http import ADMIN
from tests.support.browser import chromium
from tests.support.listener import listening

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


async def submit(page: Page, form: str, fields: dict[str, str], *,
                 selects: dict[str, str] | None = None) -> list[str]:
    """Fill a form, send it; the errors the page shows then."""
    for name, value in fields.items():
        await page.fill(f"{form} [name={name}]", value)
    for name, value in (selects or {}).items():
        await page.select_option(f"{form} [name={name}]", value)
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")
    return await page.locator(".error").all_text_contents()


async def test_the_settings_rename_and_delete_in_chromium(rt: Runtime) -> None:
    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/admin")
            assert await submit(page, "#login", {"token": ADMIN["Authorization"].split()[1]}) == []
            await page.goto(f"{base}/admin/tenants/globex")
            assert await submit(page, "#recording-form", {"retention_days": "30"},
                                selects={"mode": "all"}) == []
            shown = " ".join((await page.text_content("#recording-now") or "").split())
            assert shown == "Mode all; kept 30 days.", shown
            assert await submit(page, "#blending-form", {"blend_hold_s": "7"}) == []
            assert "A call waits 7.0 s" in (await page.text_content("#blending-now") or "")
            errors = await submit(page, "#codes-form", {"codes": "paid\nPaid Twice"})
            assert len(errors) == 1 and errors[0].startswith("invalid-field:"), errors
            assert await page.input_value("#codes-form [name=codes]") == "paid\nPaid Twice"
            assert await submit(page, "#codes-form", {"codes": "paid\nrefund"}) == []
            assert await page.text_content("#codes-now") == "paid, refund"
            async with page.expect_navigation():
                await page.click("tr[data-did='15550200'] a:text('Edit')")
            assert await submit(page, "#number-form", {
                "hours_time_zone": "America/Chicago", "hours_weekly": "mon tue wed thu fri 08:00-17:00",
                "hours_recurring": "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH"}) == []
            hours = await page.text_content("tr[data-did='15550200'] .number-hours")
            assert hours == "own (America/Chicago): mon tue wed thu fri 08:00-17:00", hours

            assert await submit(page, "#rename-form", {"slug": "globex-energy",
                                                       "name": "Globex Energy plc"}) == []
            assert page.url.endswith("/admin/tenants/globex-energy")
            assert await page.text_content("#tenant-name") == "Globex Energy plc (globex-energy)"

            async def accept(dialog: Dialog) -> None:
                assert dialog.message == "Delete the tenant globex-energy and everything it has?"
                await dialog.accept()

            page.once("dialog", accept)
            async with page.expect_navigation():
                await page.click("#delete-tenant-form button[type=submit]")
            assert page.url == f"{base}/admin"
            listed = await page.locator("body").text_content() or ""
            assert "globex" not in listed.lower() and "acme" in listed.lower()
    async with rt.sessions() as s:
        assert list(await s.scalars(select(Tenant.slug))) == ["acme"]
