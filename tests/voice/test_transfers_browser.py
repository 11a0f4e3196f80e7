"""The agent page's transfer and consult buttons in Chromium, on the real PBX: alice
consults bob, cancels, consults him again and makes it a three-way call."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.openapi import Conformances
from tests.voice.calls import POP, alice_called_with_bob_ready, same
from tests.voice.conftest import VoiceEnv, eventually

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_consult_buttons_cancel_then_three_way(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    ari = ccari.ari
    async with alice_called_with_bob_ready(ccari, voice_env, openapi_conformance) as called:
        alice, live, call, pop = called.alice, called.live, called.caller, POP

        await alice.select_option(f"{pop} .transfer-kind", "agent")
        await alice.fill(f"{pop} .transfer-to", "bob")
        await alice.click(f"{pop} .consult")
        await alice.wait_for_selector(f"{pop}[data-consult=talking] .consult-complete",
                                      timeout=10000)
        assert await alice.is_hidden(f"{pop} .transfer")
        assert await called.in_the_call() == 0  # alice talks to bob, the caller on hold
        await alice.click(f"{pop} .consult-cancel")
        await alice.wait_for_selector(f"{pop} .transfer", timeout=5000)
        await eventually(lambda: same(called.in_the_call(), 2), what="caller back with alice")

        await alice.click(f"{pop} .consult")
        await alice.wait_for_selector(f"{pop}[data-consult=talking]", timeout=10000)
        await alice.click(f"{pop} .consult-conference")
        await alice.wait_for_selector(f"{pop}[data-consult=three-way]", timeout=5000)
        assert await alice.is_hidden(f"{pop} .consult-controls")
        await eventually(lambda: same(called.in_the_call(), 3), what="three in the call")

        await ari.hangup(live.channel_id or "")
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)
        await call.wait()
