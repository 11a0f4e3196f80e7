"""The admin page's prompts in Chromium, logged in with acme's own token: a file uploaded
(stereo 44.1 kHz WAV, a hostile file name), a prompt made from a text, a file that is no audio
refused beside the form, then a menu set to play the upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Page

from ccari.app import Runtime, internal_app
from ccari.provisioning.http import PROVISIONING
from tests.provisioning.test_prompts import played_as, tone_wav
from tests.provisioning.test_settings_browser import submit
from tests.support.browser import chromium
from tests.support.sipp import free_tcp_port

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


async def upload(page: Page, name: str, path: Path) -> list[str]:
    await page.set_input_files("#prompt-upload-form [name=file]", str(path))
    return await submit(page, "#prompt-upload-form", {"name": name})


async def test_prompts_uploaded_and_spoken_on_the_admin_page(rt: Runtime, tmp_path: Path) -> None:
    good = tmp_path / "<b>hello<b>; rm -rf ~ $(id).wav"
    good.write_bytes(tone_wav(2.0, 700, 44100))
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording")
    app = internal_app(rt)
    service = app[PROVISIONING]
    port = free_tcp_port()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/admin")
            token = rt.demo_secrets["acme.token"]  # type: ignore[attr-defined]
            assert await submit(page, "#login", {"token": token}) == []
            assert page.url.endswith("/admin/tenants/acme")

            assert await upload(page, "greeting", good) == []
            row = page.locator("tr[data-prompt='greeting']")
            assert await row.locator(".prompt-source").text_content() == "an uploaded file"
            assert await row.locator(".prompt-seconds").text_content() == "2.0"
            assert await submit(page, "#prompt-text-form", {
                "name": "closed", "text": "We are closed <today>."}) == []
            said = page.locator("tr[data-prompt='closed'] .prompt-source")
            assert await said.text_content() == "text: “We are closed <today>.”"

            errors = await upload(page, "notes", bad)
            assert len(errors) == 1 and errors[0].startswith("prompt-not-audio:"), errors
            assert await page.locator("tr[data-prompt='notes']").count() == 0

            assert await submit(page, "#menu-form", {"name": "night", "prompt": "tenant:closed",
                                                     "options": "1 | sales | skill=sales"}) == []
            shown = await page.text_content("[data-menu='night'] p") or ""
            assert shown.startswith("Prompt tenant:closed"), shown
            errors = await submit(page, "#menu-form", {"name": "late", "prompt": "tenant:nope"})
            assert len(errors) == 1 and errors[0].startswith("unknown-prompt:"), errors
    finally:
        await runner.cleanup()
    acme = await service.tenant_id("acme")
    assert [(p["name"], p["source"]) for p in await service.prompts(acme)] == [
        ("closed", "text"), ("greeting", "upload")]
    assert played_as(await service.prompt_audio(acme, "greeting"))[:3] == (8000, 1, 16)
