"""The agent page's conference panel in Chromium, on the real PBX: alice adds bob to her
call, mutes and unmutes him, removes him, adds him again and leaves the call to him and
the customer, then gives her disposition while they talk on (it is the call's at its end)."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.openapi import Conformances
from tests.voice.calls import POP, alice_called_with_bob_ready, same
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_voice_pbx import one_contact_in

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_conference_panel_add_mute_remove_then_leave(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    ari = ccari.ari
    async with alice_called_with_bob_ready(ccari, voice_env, openapi_conformance) as called:
        alice, live, call, pop = called.alice, called.live, called.caller, POP

        party = f"{pop} .conference-parties li[data-party='cnf-{live.id}-1']"
        await alice.select_option(f"{pop} .transfer-kind", "agent")
        await alice.fill(f"{pop} .transfer-to", "bob")
        await alice.click(f"{pop} .conference-add")
        await alice.wait_for_selector(f"{party}[data-state=joined]", timeout=10000)
        assert "bob" in await alice.inner_text(party)
        await eventually(lambda: same(called.in_the_call(), 3), what="three in the call")
        await alice.click(f"{party} .party-mute")
        await alice.wait_for_selector(f"{party}[data-muted=yes] .party-unmute", timeout=5000)
        await alice.click(f"{party} .party-unmute")
        await alice.wait_for_selector(f"{party}[data-muted=no]", timeout=5000)
        await alice.click(f"{party} .party-remove")
        await alice.wait_for_selector(party, state="detached", timeout=5000)
        await eventually(lambda: same(called.in_the_call(), 2), what="bob out of the call")

        # Bob again; alice leaves the call to him and the customer.
        party = party.replace("-1'", "-2'")
        await alice.click(f"{pop} .conference-add")
        await alice.wait_for_selector(f"{party}[data-state=joined]", timeout=10000)
        await alice.click(f"{pop} .conference-leave")
        # She wraps up her part while the customer and bob talk on.
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up] .wrap-up-done",
                                      timeout=5000)
        await eventually(lambda: same(called.in_the_call(), 2), what="customer and bob")
        code = await alice.eval_on_selector(f"{pop} .disposition", "s => s.value")
        await alice.click(f"{pop} .wrap-up-done")
        await alice.wait_for_selector(pop, state="detached", timeout=5000)
        assert await one_contact_in(ccari, "connected") is not None
        await ari.hangup(live.channel_id or "")
        ended = await eventually(lambda: one_contact_in(ccari, "completed"),
                                 what="completed")
        assert (ended.disposition, ended.meta.get("ended_by")) == (code, "caller-hangup")
        await call.wait()
