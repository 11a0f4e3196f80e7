"""The proof in Chromium: an agent is offered a caller's voicemail, accepts it and the page
can play the message (the browser loads and decodes the audio), then completes it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.async_api import expect

from ccari.app import Runtime, internal_app
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo
from ccari.voicemail.services import VoicemailService
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.voicemail.conftest import wav

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


async def test_an_agent_plays_a_voicemail_on_the_page(rt: Runtime, demo: dict[str, Any]) -> None:
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        call = await contacts_repo.create(
            s, tenant_id=acme.id, medium="voice", state="ivr", node=rt.config.node,
            channel_id="ch-1", caller_number="15551230001", arrived_at=dt.datetime.now(dt.UTC),
            meta={"overflow": "voicemail", "refused": "tenant-limit-reached"})
        await s.commit()
    vm_id = await VoicemailService(rt.sessions, rt.queue, node=rt.config.node).keep(
        call.id, wav(2.0), 2.0)
    assert vm_id is not None

    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await agent_login(await (await browser.new_context()).new_page(),
                                     base, "alice", demo["acme.alice.web"],
                                     ready=False)
            await page.click("#ready")  # the voicemail is offered at once

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
    async with rt.sessions() as s:
        done = await s.get(Contact, vm_id)
    assert done is not None and done.state == "completed"
