"""A tenant built from nothing in the admin pages only (Chromium: a number, a two-level IVR,
skills, two agents, business hours) takes a SIPp call on the real Asterisk: the digits
choose the agent whose phone rings."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from ccari.app import Runtime, internal_app
from tests.support.browser import chromium
from tests.support.listener import listening
from tests.support.sipp import free_port
from tests.voice.conftest import PHONE_IP, VoiceEnv
from tests.voice.provisioned import call_reaches_the_upgrade_agent

pytestmark = [pytest.mark.pbx, pytest.mark.browser]

DID = "15550400"


async def submit(page: Page, form: str, fields: dict[str, str]) -> None:
    """Fill a form of the page, send it and check the page came back without an error."""
    for name, value in fields.items():
        await page.fill(f"{form} [name={name}]", value)
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")
    errors = await page.locator(".error").all_text_contents()
    assert errors == [], (form, errors)


async def test_a_tenant_built_in_the_admin_pages_takes_a_call_through_its_ivr(
        ccari: Runtime, voice_env: VoiceEnv) -> None:
    ports = {name: free_port(PHONE_IP) for name in ("dora", "eve")}
    async with listening(internal_app(ccari)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/admin")  # to the login
            await submit(page, "#login", {"token": "voice-admin-token"})
            await submit(page, "#new-tenant", {"slug": "umbrella", "name": "Umbrella Corp"})
            assert "umbrella" in await page.text_content("#new-token")  # type: ignore[operator]
            async with page.expect_navigation():
                await page.click("a[href='/admin/tenants/umbrella']")
            await submit(page, "#menu-form", {"name": "plans", "prompt": "please-hold",
                                              "options": "1 | new line | plan=new\n"
                                                         "2 | upgrade | plan=upgrade"})
            await submit(page, "#menu-form", {"name": "main", "options":
                                              "1 | sales | skill=sales | plans\n"
                                              "2 | support | skill=support"})
            for name, plan in (("dora", "new"), ("eve", "upgrade")):
                await submit(page, "#agent-form", {
                    "username": name, "name": name.title(), "site": "Raccoon City",
                    "skills": f"skill=sales 8\nplan={plan} 6", "slots_voice": "1",
                    "phone_username": f"umbrella-{name}",
                    "phone_password": f"{name}-phone-secret",
                    "phone_contact": f"sip:umbrella-{name}@{PHONE_IP}:{ports[name]}",
                    "web_password": f"{name}-web-secret"})
            await submit(page, "#hours-form", {
                "time_zone": "UTC", "weekly": "mon tue wed thu fri sat sun 00:00-24:00"})
            await submit(page, "#number-form", {"did": f"+{DID}", "menu": "main"})

            # What the page shows now: the number, the agents with their skills, the menus,
            # and every change in the audit log.
            assert await page.text_content(f"tr[data-did='{DID}']") is not None
            eve = await page.text_content("tr[data-agent=eve]")
            assert eve is not None and "plan=upgrade (6)" in eve and "skill=sales (8)" in eve
            options = await page.locator("[data-menu=main] li").all_text_contents()
            assert options[0].startswith("1: sales") and options[0].endswith("→ menu plans")
            audit = await page.text_content("#audit")
            assert audit is not None
            for change in ("create number 15550400", "create agent eve", "create agent dora",
                           "create menu plans", "create menu main", "create hours umbrella",
                           "create tenant umbrella"):
                assert change in audit, change

    # The PBX knows the phones and the number without a restart: the call reaches eve.
    await call_reaches_the_upgrade_agent(ccari, voice_env, "umbrella", DID, ports)
