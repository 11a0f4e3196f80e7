"""An agent reloads her page in the middle of a call (Chromium, the real PBX): the call comes
back as she left it (on hold, muted, its recording paused, the same caller), its controls
work from the reloaded page, and once the caller hangs up a reload still shows the call in
wrap-up, where her disposition closes it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ccari.app import Runtime
from ccari.storage.models import Contact
from tests.support.openapi import Conformances
from tests.voice.calls import alice_on_a_call_in_chromium
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_recording_pbx import set_policy

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
POP = ".work-item[data-medium=voice]"


async def test_a_reloaded_page_shows_her_call_as_she_left_it(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "on-demand", "retention_days": None, "queues": {}})
    async with alice_on_a_call_in_chromium(ccari, voice_env, openapi_conformance) as on:
        alice, live = on.alice, on.live
        await alice.wait_for_selector(f"{POP}[data-status=connected] .record", timeout=10000)
        caller = await alice.text_content(f"{POP} .caller")
        for button, state in (("record", "[data-recording=on]"),
                              ("record-pause", "[data-recording=paused]"),
                              ("mute", "[data-muted=yes]"), ("hold", "[data-status=held]")):
            await alice.click(f"{POP} .{button}")
            await alice.wait_for_selector(f"{POP}{state}", timeout=5000)

        await alice.reload()
        await alice.wait_for_selector(
            f"{POP}[data-status=held][data-muted=yes][data-recording=paused]", timeout=10000)
        assert await alice.locator(".work-item").count() == 1
        assert await alice.text_content(f"{POP} .caller") == caller
        assert await alice.is_visible(f"{POP} .resume")
        assert await alice.is_visible(f"{POP} .record-resume")
        # Its controls work from the reloaded page.
        await alice.click(f"{POP} .resume")
        await alice.wait_for_selector(f"{POP}[data-status=connected]", timeout=5000)
        await alice.click(f"{POP} .record-resume")
        await alice.wait_for_selector(f"{POP}[data-recording=on]", timeout=5000)
        await alice.click(f"{POP} .unmute")
        await alice.wait_for_selector(f"{POP}[data-muted=no]", timeout=5000)

        await ccari.ari.hangup(live.channel_id or "")
        await alice.wait_for_selector(f"{POP}[data-status=wrap-up]", timeout=10000)
        await alice.reload()  # the ended call still waits for her disposition
        await alice.wait_for_selector(f"{POP}[data-status=wrap-up] .wrap-up-done",
                                      timeout=10000)
        assert await alice.locator(".work-item").count() == 1
        code = await alice.eval_on_selector(f"{POP} .disposition", "s => s.options[0].value")
        await alice.fill(f"{POP} .note", "reloaded twice")
        await alice.click(f"{POP} .wrap-up-done")
        await alice.wait_for_selector(POP, state="detached", timeout=5000)

        async def coded() -> Contact | None:
            async with ccari.sessions() as s:
                row = await s.scalar(select(Contact).where(Contact.id == live.id))
            return row if row is not None and row.meta.get("note") else None

        row = await eventually(coded, what="the disposition saved")
        assert (row.disposition, row.meta["note"]) == (code, "reloaded twice")
        # A reload after it shows nothing left to do.
        await alice.reload()
        await alice.wait_for_selector("#idle:not([hidden])", timeout=10000)
        assert await alice.locator(".work-item").count() == 0
