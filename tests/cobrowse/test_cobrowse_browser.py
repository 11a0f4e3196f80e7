"""Co-browsing end to end in two Chromium contexts: the customer on the tenant's own site
(another origin), the agent on ccari's agent page with the mirror in the contact's pane.

Every websocket frame of both browsers is captured: masked values never appear in any.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, WebSocket, expect

from ccari.contacts import repo as contacts_repo
from ccari.storage.db import upgrade_async
from tests.cobrowse.conftest import MEDIUM, Env, add_site
from tests.cobrowse.site import SECRETS, agent_login, link, share, site_app
from tests.support.browser import chromium, start_chat

pytestmark = pytest.mark.browser


@pytest.fixture(params=["sqlite"])
async def db_url(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Browser tests: SQLite only (the storage paths are covered on both backends elsewhere)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/ccari.db"
    await upgrade_async(url)
    return url


class Frames:
    """Every websocket frame a page sends or receives (any frame of the page)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.received: list[str] = []
        self.closed: list[str] = []

    def watch(self, page: Page) -> None:
        def on_ws(ws: WebSocket) -> None:
            ws.on("framesent", lambda p: self.sent.append(p if isinstance(p, str) else p.decode("latin-1")))
            ws.on("framereceived", lambda p: self.received.append(
                p if isinstance(p, str) else p.decode("latin-1")))
            ws.on("close", lambda w: self.closed.append(w.url))
        page.on("websocket", on_ws)

    def all(self) -> str:
        return "\n".join(self.sent + self.received)


@pytest.fixture
async def world(env: Env, aiohttp_server) -> AsyncIterator[tuple[Env, str]]:  # type: ignore[no-untyped-def]
    token = env.token()
    site = await aiohttp_server(site_app(env.public_url, token))
    origin = str(site.make_url("")).rstrip("/")
    await add_site(env.rt, env.tenants["acme"], origin)
    yield env, origin


async def new_contact(env: Env, agent: Page) -> str:
    now = dt.datetime.now(dt.UTC)
    async with env.rt.sessions() as s:
        contact = await contacts_repo.create(
            s, tenant_id=env.tenants["acme"], medium=MEDIUM, state="queued", arrived_at=now,
            queued_at=now, customer_id=env.ada, meta={"page_url": "https://shop/"})
        await s.commit()
    await env.rt.queue.enqueue(contact)
    item = f".work-item[data-contact='{contact.id}']"
    await agent.click(f"{item}[data-status=offered] .accept")
    await agent.wait_for_selector(f"{item}[data-status=connected]")
    return contact.id


def replay(frame):  # type: ignore[no-untyped-def]
    """The replayed customer page inside the mirror."""
    return frame.frame_locator("#cb-stage iframe")


async def mirror_frame(agent: Page):  # type: ignore[no-untyped-def]
    return next(f for f in agent.frames if "/agent/cobrowse/" in f.url)


async def test_agent_sees_what_the_customer_types_and_where_they_scroll_never_the_secrets(world) -> None:
    env, site = world
    customer_frames, agent_frames = Frames(), Frames()
    async with chromium() as browser:
        agent_ctx, customer_ctx = await browser.new_context(), await browser.new_context(
            viewport={"width": 1000, "height": 700})
        agent = await agent_login(agent_ctx, env.internal_url, env.secrets["acme.alice.web"])
        customer = await customer_ctx.new_page()
        agent_frames.watch(agent)  # the agent page and the mirror framed in it
        customer_frames.watch(customer)
        contact_id = await new_contact(env, agent)
        await customer.goto(f"{site}/shop/")
        code = await share(customer)
        mirror = await link(agent, contact_id, code)
        page = replay(mirror)
        await expect(page.locator("#title")).to_have_text("Acme shop: your account")

        await customer.locator("#name").press_sequentially("Grace Hopper")
        await customer.locator("#password").press_sequentially(SECRETS["password"])
        await customer.locator("#card").press_sequentially(SECRETS["card"])
        await customer.locator("#account-no").fill(SECRETS["account"])
        await expect(page.locator("#name")).to_have_value("Grace Hopper")
        await expect(page.locator("#account-no")).to_have_value("********")
        await expect(page.locator("#password")).to_have_value("********")
        await expect(page.locator("#card")).to_have_value("********")
        assert "1234" not in (await page.locator(".private").text_content() or "")

        await customer.evaluate("window.scrollTo(0, 1200)")
        frame = await mirror_frame(agent)
        await frame.wait_for_function("() => window.ccariMirror.frame()?.contentWindow.scrollY === 1200")
        await customer.evaluate("window.scrollTo(0, 300)")
        await frame.wait_for_function("() => window.ccariMirror.frame()?.contentWindow.scrollY === 300")

        # The capture works (the name went through both ways), and no secret is in any frame.
        assert any("Grace Hopper" in f for f in customer_frames.sent)
        assert any("Grace Hopper" in f for f in agent_frames.received)
        everything = customer_frames.all() + agent_frames.all()
        for name, secret in SECRETS.items():
            assert secret not in everything, f"the {name} left the customer's browser"
            assert json.dumps(secret)[1:-1] not in everything, name
        await browser.close()


async def test_mirror_follows_navigation_guidance_needs_consent_and_stop_ends_it(world) -> None:
    env, site = world
    frames = Frames()
    async with chromium() as browser:
        agent_ctx, customer_ctx = await browser.new_context(), await browser.new_context(
            viewport={"width": 1000, "height": 700})
        agent = await agent_login(agent_ctx, env.internal_url, env.secrets["acme.alice.web"])
        customer = await customer_ctx.new_page()
        frames.watch(customer)
        contact_id = await new_contact(env, agent)
        await customer.goto(f"{site}/shop/")
        mirror = await link(agent, contact_id, await share(customer))
        page = replay(mirror)
        await expect(page.locator("#title")).to_have_text("Acme shop: your account")

        # The customer follows a link: sharing resumes by itself and the mirror follows.
        await customer.click("#next")
        await customer.wait_for_url(f"{site}/shop/page2")
        await expect(page.locator("#plan")).to_have_text("Gold broadband, 1 Gbit/s")
        await expect(mirror.locator("#cb-page")).to_have_text(f"{site}/shop/page2")

        # Guidance: refused until the customer ticks the box, then pointer, highlight, navigate.
        await expect(mirror.locator("#cb-consent")).to_have_text("Guidance not allowed")
        await expect(mirror.locator("#cb-url")).to_be_disabled()
        await customer.check(".ccari-cobrowse-consent")
        await expect(mirror.locator("#cb-consent")).to_have_text("Guidance allowed")
        # (the mirror may sit below the agent page's fold: the mouse acts on what is shown)
        await page.locator("#plan").scroll_into_view_if_needed()
        box = await page.locator("#plan").bounding_box()
        assert box is not None
        await agent.mouse.move(box["x"] + 5, box["y"] + 5)
        await agent.mouse.click(box["x"] + 10, box["y"] + box["height"] / 2)
        await customer.wait_for_selector(".ccari-cobrowse-pointer")
        highlight = customer.locator(".ccari-cobrowse-highlight")
        await expect(highlight).to_have_count(1)
        plan = await customer.locator("#plan").bounding_box()
        mark = await highlight.bounding_box()
        assert plan is not None and mark is not None
        assert abs(mark["y"] + 4 - plan["y"]) < 2 and abs(mark["width"] - 8 - plan["width"]) < 2

        await mirror.locator("#cb-url").fill("https://evil.test/phish")
        await mirror.locator("#cb-nav button").click()
        await expect(mirror.locator("#cb-error")).to_contain_text("cobrowse-url-not-allowed")
        await mirror.locator("#cb-url").fill(f"{site}/shop/?from=agent")
        await mirror.locator("#cb-nav button").click()
        await customer.wait_for_url(f"{site}/shop/?from=agent")
        await expect(page.locator("#title")).to_have_text("Acme shop: your account")

        # The agent also has the mirror open in a window of its own.
        window = await agent_ctx.new_page()
        await window.goto(f"{env.internal_url}/agent/cobrowse/{contact_id}")
        await expect(window.locator("#cb-state")).to_have_text("Customer connected")
        await expect(replay(window).locator("#title")).to_have_text("Acme shop: your account")

        # The customer stops: the mirrors end, nothing more leaves the customer's page.
        await customer.click(".ccari-cobrowse-stop")
        await expect(window.locator("#cb-state")).to_have_text("Co-browse ended (customer-stopped).")
        await expect(window.locator("#cb-stage iframe")).to_have_count(0)
        item = agent.locator(f".work-item[data-contact='{contact_id}']")
        await expect(item.locator(".cobrowse-msg")).to_have_text("Co-browse ended (customer-stopped).")
        await expect(item.locator(".cobrowse-view")).to_be_hidden()
        assert await item.locator(".cobrowse-frame").get_attribute("src") is None
        await customer.wait_for_function("() => !window.ccariCobrowse.active()")
        assert await customer.locator(".ccari-cobrowse-bar").count() == 0
        assert any("/v1/cobrowse/ws" in url for url in frames.closed)
        sent = len(frames.sent)
        await customer.locator("#name").fill("typed after stopping")
        await customer.reload()  # nothing resumes on the next page either
        await customer.wait_for_selector("#share")
        assert await customer.evaluate("window.ccariCobrowse.active()") is False
        assert len(frames.sent) == sent
        await browser.close()


async def test_on_the_tenants_demo_pages_of_the_public_listener(env: Env) -> None:
    """The demo site served by ccari's public listener itself (its strict CSP applies)."""
    async with chromium() as browser:
        agent_ctx, customer_ctx = await browser.new_context(), await browser.new_context()
        agent = await agent_login(agent_ctx, env.internal_url, env.secrets["acme.alice.web"])
        customer = await customer_ctx.new_page()
        errors: list[str] = []
        customer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        contact_id = await new_contact(env, agent)
        await customer.goto(f"{env.public_url}/demo/acme/")
        await customer.add_script_tag(url=f"{env.public_url}/cobrowse.js")
        token = env.token()
        await customer.evaluate("(t) => window.ccariCobrowse.start({token: t})", token)
        await expect(customer.locator(".ccari-cobrowse-code")).to_have_text(re.compile(r"^\d{6}$"))
        code = await customer.text_content(".ccari-cobrowse-code")
        mirror = await link(agent, contact_id, code or "")
        await expect(mirror.locator("#cb-page")).to_have_text(f"{env.public_url}/demo/acme/")
        title = await customer.locator("h1").first.text_content()
        await expect(replay(mirror).locator("h1").first).to_have_text(title or "")
        assert not [e for e in errors if "Content Security Policy" in e], errors
        await browser.close()


async def test_through_the_help_widget_the_session_belongs_to_the_chat_and_ends_with_it(env: Env) -> None:
    """The real demo page and widget: chat, share, link, and the end of the chat ends it."""
    async with chromium() as browser:
        agent_ctx, customer_ctx = await browser.new_context(), await browser.new_context()
        agent = await agent_login(agent_ctx, env.internal_url, env.secrets["acme.alice.web"])
        customer = await customer_ctx.new_page()
        await start_chat(customer, env.public_url)
        chat = agent.locator(".work-item[data-medium=chat]")
        await chat.locator(".accept").click(timeout=20000)
        await expect(chat).to_have_attribute("data-status", "connected")
        await customer.click(".ccari-w-share")
        note = customer.locator(".ccari-w-done", has_text="Tell the agent this code")
        await expect(note).to_have_text(re.compile(r"Tell the agent this code: \d{6}$"))
        code = (await note.text_content() or "")[-6:]
        contact_id = await chat.get_attribute("data-contact")
        assert contact_id
        mirror = await link(agent, contact_id, code)
        await expect(mirror.locator("#cb-page")).to_have_text(f"{env.public_url}/demo/acme/")
        heading = await customer.locator("h1").first.text_content()
        await expect(replay(mirror).locator("h1").first).to_have_text(heading or "")

        await chat.locator(".complete").click()
        await expect(customer.locator(".ccari-cobrowse-bar")).to_have_count(0, timeout=10000)
        await expect(note).to_be_hidden()
        assert await customer.evaluate("window.ccariCobrowse.active()") is False
        await browser.close()
