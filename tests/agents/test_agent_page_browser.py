"""The agent page in Chromium while its connection to ccari is down."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import WebSocketRoute, expect
from sqlalchemy import select

from ccari.app import Runtime
from ccari.chat.models import ChatMessage
from tests.public.conftest import demo, internal, public, rt
from tests.support.browser import agent_login, chromium, start_chat

__all__ = ["demo", "internal", "public", "rt"]
NOT_SENT = "not sent: the page is reconnecting; do it again once it is live"
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


class Link:
    """The page's socket to ccari, through the test: cut, and refused while down;
    ``deaf``: what ccari sends is lost on the way (a link dying)."""

    def __init__(self) -> None:
        self.down = False
        self.deaf = False
        self.sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    async def route(self, ws: WebSocketRoute) -> None:
        if self.down:  # ccari out of reach: the page's reconnects fail
            await ws.close(code=1013, reason="down")
            return
        server = ws.connect_to_server()
        server.on_message(lambda message: None if self.deaf else ws.send(message))
        self.sockets.append((ws, server))

    async def cut(self) -> None:
        self.down = True
        for side in self.sockets[-1]:
            await side.close()


async def test_what_the_agent_does_while_the_page_reconnects_is_said_not_sent_and_kept(
        rt: Runtime, internal: TestClient, public: TestClient, demo: dict[str, Any]) -> None:
    """Ready pressed while the page's socket is down: the page says it was not sent (ccari
    has alice not ready), and once it is live again the same press works.  A chat message
    she sends meanwhile stays in her box (it was lost before), and goes once she is live."""
    link = Link()
    async with chromium() as browser:
        page = await browser.new_page()
        await page.route_web_socket("**/agent/ws", link.route)
        await agent_login(page, str(internal.make_url("")).rstrip("/"), "alice",
                          demo["acme.alice.web"], ready=False)
        conn, state = page.locator("#conn"), page.locator("#state")
        await expect(state).to_have_attribute("data-state", "not_ready")
        await link.cut()
        await expect(conn).to_have_text("reconnecting…")
        await page.click("#ready")
        await expect(conn).to_have_text(NOT_SENT)
        await expect(state).to_have_attribute("data-state", "not_ready")
        link.down = False
        await expect(conn).to_have_text("live", timeout=20000)
        await page.click("#ready")
        await expect(state).to_have_attribute("data-state", "ready")

        customer = await browser.new_page()
        await start_chat(customer, str(public.make_url("")).rstrip("/"))
        item = page.locator(".work-item[data-medium=chat]")
        await item.locator(".accept").click()
        await expect(item).to_have_attribute("data-status", "connected")
        await link.cut()
        await expect(conn).to_have_text("reconnecting…")
        box = item.locator(".chat-input")
        await box.fill("Are you still there?")
        await box.press("Enter")
        await expect(conn).to_have_text(NOT_SENT)
        await expect(box).to_have_value("Are you still there?")
        link.down = False
        await expect(conn).to_have_text("live", timeout=20000)
        await box.press("Enter")
        await expect(box).to_have_value("")
        await expect(customer.locator(".ccari-w-agent .ccari-w-body")).to_have_text(
            ["Are you still there?"])
    assert len(link.sockets) == 3


async def test_a_chat_message_whose_echo_is_lost_stays_in_her_box_and_is_saved_once(
        rt: Runtime, internal: TestClient, public: TestClient, demo: dict[str, Any]) -> None:
    """Her message reaches ccari but the link dies before its echo comes back: the text
    stays in her box (it is not known to be saved); sent again once the page is live, the
    customer has it once, and the box empties."""
    link = Link()
    async with chromium() as browser:
        page = await browser.new_page()
        await page.route_web_socket("**/agent/ws", link.route)
        await agent_login(page, str(internal.make_url("")).rstrip("/"), "alice",
                          demo["acme.alice.web"])
        customer = await browser.new_page()
        await start_chat(customer, str(public.make_url("")).rstrip("/"))
        item = page.locator(".work-item[data-medium=chat]")
        await item.locator(".accept").click()
        await expect(item).to_have_attribute("data-status", "connected")
        seen = customer.locator(".ccari-w-agent .ccari-w-body")

        link.deaf = True
        box = item.locator(".chat-input")
        await box.fill("Your order ships today.")
        await box.press("Enter")
        await expect(seen).to_have_text(["Your order ships today."])  # saved and delivered
        await expect(item.locator(".chat-note")).to_have_text("Sending…")
        await expect(box).to_have_value("Your order ships today.")  # no echo: kept
        await link.cut()
        link.deaf = link.down = False
        await expect(page.locator("#conn")).to_have_text("live", timeout=20000)
        await box.press("Enter")
        await expect(box).to_have_value("")
        await expect(item.locator(".chat-note")).to_have_text("")
        await expect(item.locator(".chat-log .chat-agent")).to_have_count(1)
        await expect(seen).to_have_text(["Your order ships today."])
    async with rt.sessions() as s:
        bodies = list(await s.scalars(select(ChatMessage.body).where(
            ChatMessage.sender == "agent")))
    assert bodies == ["Your order ships today."]


async def test_when_she_logs_out_every_page_of_hers_goes_to_the_login(
        rt: Runtime, internal: TestClient, demo: dict[str, Any]) -> None:
    """Alice on two computers, with two tabs on one, and a third computer whose connection
    is down while she logs out: each of her pages ends on the login form, none stays
    'reconnecting…' with a session that is over."""
    base = str(internal.make_url("")).rstrip("/")
    link = Link()

    async with chromium() as browser:
        first, second, third = [await browser.new_context() for _ in range(3)]
        tab = await agent_login(await first.new_page(), base, "alice", demo["acme.alice.web"],
                                ready=False)
        other_tab = await first.new_page()
        await other_tab.goto(f"{base}/agent")
        await expect(other_tab.locator("#conn")).to_have_text("live")
        elsewhere = await agent_login(await second.new_page(), base, "alice",
                                      demo["acme.alice.web"], ready=False)
        offline = await third.new_page()
        await offline.route_web_socket("**/agent/ws", link.route)
        await agent_login(offline, base, "alice", demo["acme.alice.web"], ready=False)
        await link.cut()
        await expect(offline.locator("#conn")).to_have_text("reconnecting…")

        await tab.click("text=Log out")
        await expect(tab).to_have_url(f"{base}/agent/login")
        for page in (other_tab, elsewhere):  # told by ccari as their socket closes
            await expect(page).to_have_url(f"{base}/agent/login")
        link.down = False  # back: its next socket is refused, and the page finds out why
        await expect(offline).to_have_url(f"{base}/agent/login", timeout=20000)
