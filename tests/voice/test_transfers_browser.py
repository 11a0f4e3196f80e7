"""The agent page's transfer and consult buttons in Chromium, on the real PBX: alice
consults bob, cancels, consults him again and makes it a three-way call."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.browser import agent_login, chromium
from tests.support.openapi import Conformances
from tests.voice.calls import same, serving
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_consult_buttons_cancel_then_three_way(ccari: Runtime, voice_env: VoiceEnv,
        openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    ari = ccari.ari
    await ready(ccari, "bob")
    async with (serving(ccari, voice_env, openapi_conformance) as (base, secrets),
                chromium() as browser, phone(voice_env, "alice"), phone(voice_env, "bob")):
        alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                  "alice", secrets["acme.alice.web"])
        call = caller(voice_env, digits="1", hangup_after_ms=0)
        await call.start()
        pop = ".work-item[data-medium=voice]"
        await alice.wait_for_selector(f"{pop}[data-status=connected]", timeout=10000)
        live = await one_contact_in(ccari, "connected")
        assert live is not None and live.bridge_id

        async def in_call_bridge() -> int:
            return len((await ari.get_bridge(live.bridge_id or "")).channels)

        await alice.select_option(f"{pop} .transfer-kind", "agent")
        await alice.fill(f"{pop} .transfer-to", "bob")
        await alice.click(f"{pop} .consult")
        await alice.wait_for_selector(f"{pop}[data-consult=talking] .consult-complete",
                                      timeout=10000)
        assert await alice.is_hidden(f"{pop} .transfer")
        assert await in_call_bridge() == 0  # alice talks to bob, the caller on hold
        await alice.click(f"{pop} .consult-cancel")
        await alice.wait_for_selector(f"{pop} .transfer", timeout=5000)
        await eventually(lambda: same(in_call_bridge(), 2), what="caller back with alice")

        await alice.click(f"{pop} .consult")
        await alice.wait_for_selector(f"{pop}[data-consult=talking]", timeout=10000)
        await alice.click(f"{pop} .consult-conference")
        await alice.wait_for_selector(f"{pop}[data-consult=three-way]", timeout=5000)
        assert await alice.is_hidden(f"{pop} .consult-controls")
        await eventually(lambda: same(in_call_bridge(), 3), what="three in the call")

        await ari.hangup(live.channel_id or "")
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)
        await call.wait()
