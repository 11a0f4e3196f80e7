"""Debian's Chromium driven by Playwright (its own browser download does not work here)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: A browser phone's media: the fake camera/microphone, allowed without asking.
FAKE_MEDIA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextlib.asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args],
                                           headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def agent_login(page: Page, base: str, user: str, password: str, *, tenant: str = "acme",
                      ready: bool = True) -> Page:
    """Log an agent in through the login form, wait for the live page and (``ready``) go
    ready.  Without ``ready`` the caller presses it (work may be offered at once)."""
    await page.goto(f"{base}/agent/login")
    await page.fill("input[name=tenant]", tenant)
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#conn:text('live')")
    if ready:
        await page.click("#ready")
        await page.wait_for_selector("#state[data-state=ready]")
    return page


async def start_chat(page: Page, public: str, tenant: str = "acme") -> None:
    """A customer on the tenant's demo site starts a chat through the help widget."""
    await page.goto(f"{public}/demo/{tenant}/")
    await page.click(".ccari-w-launch")
    await page.click(".ccari-w-choice[data-choice=chat]")
    await page.click(".ccari-w-start button[type=submit]")
