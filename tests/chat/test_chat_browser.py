"""The proof in Chromium: a customer on the tenant's site chats with a logged-in agent.

Two browser contexts (two people): alice on the agent page (internal listener), a customer
on the demo site with the widget (public listener).  Messages go both ways with typing
indicators, a reload keeps the conversation, a script sent in chat is shown as text, and
the agent closes with a disposition.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Dialog, Page, expect

from ccari.app import Runtime, internal_app, public_app
from ccari.email import demo as email_demo
from ccari.storage.models import Contact
from tests.support.browser import agent_login, chromium
from tests.support.sipp import free_port

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
XSS = "<script>alert(1)</script>"


@pytest.fixture
async def servers(rt: Runtime) -> AsyncIterator[tuple[str, str]]:
    runners = []
    urls = []
    for app in (internal_app(rt), public_app(rt)):
        port = free_port("127.0.0.1", socket.SOCK_STREAM)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls[0], urls[1]
    finally:
        for runner in runners:
            await runner.cleanup()


def watch_dialogs(page: Page, fired: list[str]) -> None:
    async def on_dialog(dialog: Dialog) -> None:
        fired.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)


async def offer_of(rt: Runtime, demo: dict[str, Any], item: Any) -> dict[str, Any]:
    """The screen pop of the chat ``item`` shows, as ccari offered it, and to whom."""
    from ccari.contacts import repo as contacts_repo
    from ccari.contacts.screenpop import screen_pop
    from ccari.storage.models import utcnow

    contact_id = await item.get_attribute("data-contact")
    async with rt.sessions() as s:
        contact = await contacts_repo.get(s, contact_id)
        assert contact is not None and contact.agent_id is not None
        return {"agent_id": contact.agent_id, "contact": await screen_pop(s, contact, utcnow())}


async def test_customer_chats_with_an_agent_in_chromium(rt: Runtime, servers: tuple[str, str],
                                                       demo: dict[str, Any]) -> None:
    internal, public = servers
    dialogs: list[str] = []
    async with chromium() as browser:
        agent_ctx, customer_ctx = await browser.new_context(), await browser.new_context()
        agent, customer = await agent_ctx.new_page(), await customer_ctx.new_page()
        watch_dialogs(agent, dialogs)
        watch_dialogs(customer, dialogs)

        # alice logs in and goes ready.
        await agent_login(agent, internal, "alice", demo["acme.alice.web"])

        # The customer opens the widget on the tenant's site and asks to chat about sales.
        await customer.goto(f"{public}/demo/acme/")
        await customer.click(".ccari-w-launch")
        await customer.click(".ccari-w-choice[data-choice=chat]")
        await expect(customer.locator(".ccari-w-start .ccari-w-field select")).to_be_visible()
        await customer.select_option(".ccari-w-start select", "sales")
        await expect(customer.locator(".ccari-w-wait")).to_contain_text("Anticipated wait")
        await customer.click(".ccari-w-start button[type=submit]")
        await expect(customer.locator("#ccari-widget")).to_have_attribute("data-chat", "queued")

        # alice is offered the chat with the page the customer was on, and accepts.
        item = agent.locator(".work-item[data-medium=chat]")
        await expect(item.locator(".page-url")).to_have_text(f"{public}/demo/acme/")
        await expect(item.locator(".ivr")).to_have_text("skill=sales")
        await item.locator(".accept").click()
        await expect(item.locator(".chat-pane")).to_be_visible()
        status = customer.locator(".ccari-w-status")
        await expect(status).to_have_text("You are chatting with Alice Sales.")

        # The offer told to her page again (as a node does once it listens again, when she
        # took it meanwhile) leaves the chat she has taken as it is: no Accept again.
        offer = await offer_of(rt, demo, item)
        await rt.hub.send(offer["agent_id"], {"type": "offer", "again": True,
                                              "contact": offer["contact"], "accept_within_s": 20})
        # A message after it, seen on the page: the offer before it was handled.
        await rt.hub.send(offer["agent_id"], {"type": "phone", "reachable": False})
        await expect(agent.locator("#phone")).to_be_visible()
        await expect(item).to_have_attribute("data-status", "connected")
        await expect(item.locator(".accept")).to_be_hidden()
        await rt.hub.send(offer["agent_id"], {"type": "phone", "reachable": True})
        await expect(agent.locator("#phone")).to_be_hidden()

        # Messages both ways, typing indicators both ways.
        await customer.locator(".ccari-w-composer textarea").press_sequentially("Hello from")
        await expect(item.locator(".chat-typing")).to_be_visible()
        await customer.locator(".ccari-w-composer textarea").press_sequentially(" the page")
        await customer.click(".ccari-w-composer button[type=submit]")
        log = item.locator(".chat-log")
        await expect(log.locator(".chat-customer .chat-body")).to_have_text(["Hello from the page"])
        await item.locator(".chat-input").press_sequentially("Hi! How can I")
        typing = customer.locator(".ccari-w-typing")
        await expect(typing).to_have_text("Alice Sales is typing…")
        await item.locator(".chat-input").press_sequentially(" help?")
        await item.locator(".chat-input").press("Enter")
        customer_log = customer.locator(".ccari-w-log")
        await expect(customer_log.locator(".ccari-w-agent .ccari-w-body")).to_have_text(
            ["Hi! How can I help?"])
        await expect(typing).to_be_hidden()

        # A reload keeps the conversation, and it goes on.
        await customer.reload()
        await expect(customer.locator(".ccari-w-status")).to_have_text(
            "You are chatting with Alice Sales.")
        await expect(customer_log.locator(".ccari-w-body")).to_have_text(
            ["Alice Sales joined the chat", "Hello from the page", "Hi! How can I help?"])
        await customer.locator(".ccari-w-composer textarea").fill("Still here after a reload")
        await customer.locator(".ccari-w-composer textarea").press("Enter")
        await expect(log.locator(".chat-customer .chat-body")).to_have_text(
            ["Hello from the page", "Still here after a reload"])
        await item.locator(".chat-input").fill("Welcome back")
        await item.locator(".chat-input").press("Enter")
        await expect(customer_log.locator(".ccari-w-agent .ccari-w-body")).to_have_text(
            ["Hi! How can I help?", "Welcome back"])

        # A script sent in chat is text on both pages: no dialog, no element.
        await customer.locator(".ccari-w-composer textarea").fill(XSS)
        await customer.locator(".ccari-w-composer textarea").press("Enter")
        await expect(log.locator(".chat-customer .chat-body").last).to_have_text(XSS)
        await expect(customer_log.locator(".ccari-w-customer .ccari-w-body").last).to_have_text(XSS)
        assert await log.locator("script").count() == 0
        assert await customer_log.locator("script").count() == 0

        # alice closes with a disposition: the contact is completed with its talk time.
        await item.locator(".chat-disposition").select_option("sale")
        await item.locator(".chat-close").click()
        await expect(agent.locator(".work-item[data-medium=chat]")).to_have_count(0)
        await expect(customer.locator(".ccari-w-status")).to_have_text("The chat has ended.")
        await expect(customer_log.locator(".ccari-w-system .ccari-w-body").last).to_have_text(
            "Alice Sales closed the chat")
        assert dialogs == []
        await agent_ctx.close()
        await customer_ctx.close()

    async with rt.sessions() as s:
        from sqlalchemy import select

        row = await s.scalar(select(Contact).where(Contact.medium == "chat"))
    assert row is not None
    assert (row.state, row.disposition) == ("completed", "sale")
    assert row.talk_s is not None and row.talk_s > 0
    assert row.meta["page_url"] == f"{public}/demo/acme/"


async def test_the_widget_files_an_email_and_shows_waits(rt: Runtime, servers: tuple[str, str],
                                                        agents: Any) -> None:
    _, public = servers
    async with rt.sessions() as s:  # the tenant's support mailboxes (the email context)
        await email_demo.seed(s)
        await s.commit()
    await agents("acme", "alice")  # staffed: the waits are figures, not "no agent"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{public}/demo/acme/page2")
        await page.click(".ccari-w-launch")
        await page.click(".ccari-w-choice[data-choice=call-now]")
        await expect(page.locator(".ccari-w-wait")).to_have_text(
            "Anticipated wait: less than a minute")
        await page.click(".ccari-w-choice[data-choice=email]")
        await page.fill(".ccari-w-form input[name=from_address]", "ada@example.com")
        await page.fill(".ccari-w-form input[name=subject]", "My router <b>blinks</b>")
        await page.fill(".ccari-w-form textarea[name=body]", "It blinks red since Monday.")
        await page.click(".ccari-w-form button[type=submit]")
        await expect(page.locator(".ccari-w-done")).to_contain_text("we received your message")
        # The panel stays where the customer left it across pages of the site.
        await page.click("nav a[href$='/demo/acme/']")
        await expect(page.locator(".ccari-w-panel")).to_be_visible()

    async with rt.sessions() as s:
        from sqlalchemy import select

        row = await s.scalar(select(Contact).where(Contact.medium == "email"))
    assert row is not None
    assert row.meta.get("page_url") == f"{public}/demo/acme/page2"


#: Records every view the widget's panel shows from now on (each one it leaves, and the
#: one it is on: ``window.viewsSeen()``).
VIEWS_SEEN = """() => {
  const view = document.querySelector(".ccari-w-view");
  const left = [];
  new MutationObserver((records) => { for (const r of records) left.push(r.oldValue); })
    .observe(view, {attributes: true, attributeOldValue: true, attributeFilter: ["data-view"]});
  window.viewsSeen = () => left.concat([view.dataset.view]);
}"""


async def test_a_chat_started_before_the_help_service_answers_is_queued_on_one_session(
        rt: Runtime, servers: tuple[str, str], agents: Any) -> None:
    """A busy help service: the customer opens the widget and starts a chat before the page's
    session is granted.  The chat is queued all the same, and the page asked for one session,
    not one per part of the widget that needed it."""
    _, public = servers
    await agents("acme", "alice")
    asked: list[str] = []
    answer = asyncio.Event()  # the service answers a page's session once the test says so

    async def slow_session(route: Any) -> None:
        asked.append(route.request.method)
        await answer.wait()
        await route.continue_()

    async with chromium() as browser:
        page = await browser.new_page()
        await page.route("**/v1/sessions", slow_session)
        await page.goto(f"{public}/demo/acme/")
        await page.click(".ccari-w-launch")
        await page.click(".ccari-w-choice[data-choice=chat]")
        await page.evaluate(VIEWS_SEEN)
        await page.click(".ccari-w-start button[type=submit]")
        assert not answer.is_set() and asked == ["POST"]  # pressed before the session came
        answer.set()
        await expect(page.locator("#ccari-widget")).to_have_attribute("data-chat", "queued")
        await expect(page.locator(".ccari-w-error")).to_be_hidden()
        # From "Start chat" on, the customer sees the chat: the start form never comes back.
        assert await page.evaluate("window.viewsSeen()") == ["chat:start", "chat"]
        # Another customer on the same slow service picks "call me" first, then chat: each
        # form offers the tenant's topics once the service has said them.
        answer.clear()
        other = await browser.new_page()
        await other.route("**/v1/sessions", slow_session)
        await other.goto(f"{public}/demo/acme/")
        await other.click(".ccari-w-launch")
        await other.click(".ccari-w-choice[data-choice=call-now]")
        await expect(other.locator(".ccari-w-form select[name=topic]")).to_have_count(0)
        answer.set()
        await expect(other.locator(".ccari-w-form select[name=topic]")).to_be_visible()
        await other.click(".ccari-w-choice[data-choice=chat]")
        await other.select_option(".ccari-w-start select[name=topic]", "sales")
        await expect(other.locator(".ccari-w-start .ccari-w-field span")).to_have_text(
            ["Topic", "Your name (optional)"])
    assert asked == ["POST", "POST"]
    async with rt.sessions() as s:
        from sqlalchemy import func, select

        chats = await s.scalar(select(func.count()).select_from(Contact).where(Contact.medium == "chat"))
    assert chats == 1


async def test_a_chat_the_service_refuses_leaves_the_customer_on_the_start_form_with_why(
        rt: Runtime, servers: tuple[str, str]) -> None:
    """Three chats a session in five minutes: the fourth "Start chat" is refused, and the
    customer is back on the start form with the reason (not on an empty chat)."""
    _, public = servers
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{public}/demo/acme/")
        await page.click(".ccari-w-launch")
        await page.click(".ccari-w-choice[data-choice=chat]")
        widget = page.locator("#ccari-widget")
        for _ in range(3):
            await page.click(".ccari-w-start button[type=submit]")
            await expect(widget).to_have_attribute("data-chat", "queued")
            await page.click(".ccari-w-end")
            await expect(widget).not_to_have_attribute("data-chat", "queued")
            await page.click("button:text('Start a new chat')")
        await page.click(".ccari-w-start button[type=submit]")
        await expect(page.locator(".ccari-w-error")).to_have_text("too many chats; try again later")
        await expect(page.locator(".ccari-w-start button[type=submit]")).to_be_enabled()
        assert await page.evaluate("document.querySelector('.ccari-w-view').dataset.view") == "chat:start"
