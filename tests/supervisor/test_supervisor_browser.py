"""A supervisor reorders the pending list in Chromium."""

from __future__ import annotations

import pytest

from ccari.app import internal_app, public_app
from ccari.tenants import repo as tenants_repo
from tests.chat.test_chat import open_chat
from tests.public.support import until
from tests.supervisor.test_supervisor import waiting
from tests.support.agent_web import open_agent_page
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_supervisor_moves_a_chat_ahead_of_an_email(rt, db_url):  # noqa: F811
    older = await waiting(rt, "acme", "email", "ada@example.com", 6)
    newer = await waiting(rt, "acme", "chat", "<b>visitor</b>", 1)
    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), base, "sam",
                                     rt.demo_secrets["acme.sam.web"], ready=False)
            await page.goto(f"{base}/supervisor")
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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_supervisor_sees_an_agent_held_back_for_a_waiting_call(
        rt, db_url, aiohttp_client):  # noqa: F811
    """Fair blending: alice chats; a call for her skill waits past acme's hold: the page
    shows her held back for it."""
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
    await rt.queue.set_blend_hold(acme.id, 1.0)
    async with listening(internal_app(rt)) as base:
        alice = await open_agent_page(base, "acme", "alice", rt.demo_secrets["acme.alice.web"])
        try:
            assert (await alice.presence("ready"))["state"] == "ready"
            _, customer, chat = await open_chat(await aiohttp_client(public_app(rt)), "sales")
            offer = await until(alice.ws, "offer")
            await alice.ws.send_json({"type": "accept", "contact_id": offer["contact"]["id"]})
            await until(alice.ws, "chat.history")
            call = await waiting(rt, "acme", "voice", "15550199", 1)  # a minute ago, for sales
            async with chromium() as browser:
                page = await agent_login(await browser.new_page(), base, "sam",
                                         rt.demo_secrets["acme.sam.web"], ready=False)
                await page.goto(f"{base}/supervisor")
                item = await page.wait_for_selector("#agents li[data-held-back=yes]")
                assert "Alice Sales" in (await item.text_content() or "")
                assert "held for a waiting call" in (await item.text_content() or "")
                assert rt.queue.view(call) is not None  # the call still waits for her
            await customer.close()
        finally:
            await alice.close()
