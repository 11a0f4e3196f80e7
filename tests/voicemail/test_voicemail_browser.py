"""The proof in Chromium: an agent is offered a caller's voicemail, accepts it and the page
can play the message (the browser loads and decodes the audio), then completes it."""

from __future__ import annotations

import datetime as dt
import io
import math
import socket
import struct
import wave
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import expect

from ccari.app import Runtime, internal_app
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo
from ccari.voicemail.services import VoicemailService
from tests.public.conftest import demo, rt
from tests.support.browser import chromium
from tests.support.sipp import free_port

__all__ = ["demo", "rt"]
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def tone_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", round(8000 * math.sin(2 * math.pi * 440 * n / 8000)))
                               for n in range(int(seconds * 8000))))
    return out.getvalue()


async def test_an_agent_plays_a_voicemail_on_the_page(rt: Runtime, demo: dict[str, Any]) -> None:
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        call = await contacts_repo.create(
            s, tenant_id=acme.id, medium="voice", state="ivr", node=rt.config.node,
            channel_id="ch-1", caller_number="15551230001", arrived_at=dt.datetime.now(dt.UTC),
            attributes={"_overflow": "voicemail"})
        await s.commit()
    vm_id = await VoicemailService(rt.sessions, rt.queue, node=rt.config.node).keep(
        call.id, tone_wav(2.0), 2.0)
    assert vm_id is not None

    runner = web.AppRunner(internal_app(rt), access_log=None)
    await runner.setup()
    port = free_port("127.0.0.1", socket.SOCK_STREAM)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"http://127.0.0.1:{port}/agent")
            await page.fill("input[name=tenant]", "acme")
            await page.fill("input[name=username]", "alice")
            await page.fill("input[name=password]", demo["acme.alice.web"])
            await page.click("button[type=submit]")
            await expect(page.locator("#conn")).to_have_text("live")
            await page.click("#ready")

            item = page.locator(".work-item[data-medium=voicemail]")
            await expect(item.locator(".caller")).to_have_text("15551230001")
            await item.locator(".accept").click()
            await expect(item).to_have_attribute("data-status", "connected")
            audio = item.locator(".voicemail-pane audio")
            duration = await audio.evaluate("""el => new Promise((ok, fail) => {
                el.onloadedmetadata = () => ok(el.duration);
                el.onerror = () => fail(new Error("audio error " + (el.error && el.error.code)));
                el.preload = "auto"; el.load();
            })""")
            assert duration == pytest.approx(2.0, abs=0.05)

            await item.locator(".complete").click()
            await expect(item).to_have_count(0)
    finally:
        await runner.cleanup()
    async with rt.sessions() as s:
        done = await s.get(Contact, vm_id)
    assert done is not None and done.state == "completed"
