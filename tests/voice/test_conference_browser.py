"""The agent page's conference panel in Chromium, on the real PBX: alice adds bob to her
call, mutes and unmutes him, removes him, adds him again and leaves the call to him and
the customer, then gives her disposition while they talk on (it is the call's at its end)."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.browser import agent_login, chromium
from tests.support.openapi import Conformances
from tests.voice.calls import same, serving
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_conference_panel_add_mute_remove_then_leave(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
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

        party = f"{pop} .conference-parties li[data-party='cnf-{live.id}-1']"
        await alice.select_option(f"{pop} .transfer-kind", "agent")
        await alice.fill(f"{pop} .transfer-to", "bob")
        await alice.click(f"{pop} .conference-add")
        await alice.wait_for_selector(f"{party}[data-state=joined]", timeout=10000)
        assert "bob" in await alice.inner_text(party)
        await eventually(lambda: same(in_call_bridge(), 3), what="three in the call")
        await alice.click(f"{party} .party-mute")
        await alice.wait_for_selector(f"{party}[data-muted=yes] .party-unmute", timeout=5000)
        await alice.click(f"{party} .party-unmute")
        await alice.wait_for_selector(f"{party}[data-muted=no]", timeout=5000)
        await alice.click(f"{party} .party-remove")
        await alice.wait_for_selector(party, state="detached", timeout=5000)
        await eventually(lambda: same(in_call_bridge(), 2), what="bob out of the call")

        # Bob again; alice leaves the call to him and the customer.
        party = party.replace("-1'", "-2'")
        await alice.click(f"{pop} .conference-add")
        await alice.wait_for_selector(f"{party}[data-state=joined]", timeout=10000)
        await alice.click(f"{pop} .conference-leave")
        # She wraps up her part while the customer and bob talk on.
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up] .wrap-up-done",
                                      timeout=5000)
        await eventually(lambda: same(in_call_bridge(), 2), what="customer and bob")
        code = await alice.eval_on_selector(f"{pop} .disposition", "s => s.value")
        await alice.click(f"{pop} .wrap-up-done")
        await alice.wait_for_selector(pop, state="detached", timeout=5000)
        assert await one_contact_in(ccari, "connected") is not None
        await ari.hangup(live.channel_id or "")
        ended = await eventually(lambda: one_contact_in(ccari, "completed"),
                                 what="completed")
        assert (ended.disposition, ended.meta.get("ended_by")) == (code, "caller-hangup")
        await call.wait()
