"""A supervisor reorders the pending list in Chromium."""

from __future__ import annotations

import pytest
from aiohttp import web

from ccari.app import internal_app
from tests.supervisor.test_supervisor import rt, waiting  # noqa: F401  (fixture)
from tests.support.browser import agent_login, chromium
from tests.support.sipp import free_tcp_port

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_supervisor_moves_a_chat_ahead_of_an_email(rt, db_url):  # noqa: F811
    older = await waiting(rt, "acme", "email", "ada@example.com", 6)
    newer = await waiting(rt, "acme", "chat", "<b>visitor</b>", 1)
    port = free_tcp_port()
    runner = web.AppRunner(internal_app(rt))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), f"http://127.0.0.1:{port}", "sam",
                                     rt.demo_secrets["acme.sam.web"], ready=False)
            await page.goto(f"http://127.0.0.1:{port}/supervisor")
            rows = "#pending tbody tr"
            await page.wait_for_selector(f"{rows}[data-contact='{newer}']")
            ids = await page.eval_on_selector_all(rows, "rs => rs.map(r => r.dataset.contact)")
            assert ids == [older, newer]
            # The caller ID is shown as text, never as markup.
            caller = await page.text_content(f"{rows}[data-contact='{newer}'] td:nth-child(2)")
            assert caller == "<b>visitor</b>"
            await page.fill(f"{rows}[data-contact='{newer}'] input.priority", "10")
            await page.click(f"{rows}[data-contact='{newer}'] button.save")
            await page.wait_for_function(
                "first => document.querySelector('#pending tbody tr').dataset.contact === first", arg=newer)
            assert await page.text_content("#status") == "saved"
    finally:
        await runner.cleanup()
