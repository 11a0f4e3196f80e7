"""The agent's recording buttons on her page in Chromium: a call the policy records shows as
recorded, she pauses and resumes it (the pause is kept), and on demand she starts and stops."""

from __future__ import annotations

import pytest

from ccari.app import Runtime
from tests.support.openapi import Conformances
from tests.voice.calls import alice_on_a_call_in_chromium
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_recording_pbx import recordings_of, set_policy

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_the_recording_buttons_on_the_agent_page(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "on-demand", "retention_days": None, "queues": {}})
    async with alice_on_a_call_in_chromium(ccari, voice_env, openapi_conformance) as on:
        alice, live = on.alice, on.live
        pop = ".work-item[data-medium=voice]"
        await alice.wait_for_selector(f"{pop}[data-status=connected] .record", timeout=10000)
        assert await alice.is_hidden(f"{pop} .record-pause")
        await alice.click(f"{pop} .record")
        await alice.wait_for_selector(f"{pop}[data-recording=on] .record-pause",
                                      timeout=5000)
        await alice.click(f"{pop} .record-pause")
        await alice.wait_for_selector(f"{pop}[data-recording=paused] .record-resume",
                                      timeout=5000)
        await alice.click(f"{pop} .record-resume")
        await alice.wait_for_selector(f"{pop}[data-recording=on]", timeout=5000)
        await alice.click(f"{pop} .record-stop")
        await alice.wait_for_selector(f"{pop}[data-recording=off] .record", timeout=5000)

        async def kept() -> bool:
            rows = await recordings_of(ccari, live.id)
            return len(rows) == 1 and rows[0].state == "stored"

        await eventually(kept, what="the recording kept")
        [row] = await recordings_of(ccari, live.id)
        assert len(row.pauses) == 1 and row.pauses[0][1] is not None
        await ccari.ari.hangup(live.channel_id or "")
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)


async def test_a_call_the_policy_records_shows_as_recorded(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "all", "retention_days": None, "queues": {}})
    async with alice_on_a_call_in_chromium(ccari, voice_env, openapi_conformance) as on:
        alice, live = on.alice, on.live
        pop = ".work-item[data-medium=voice]"
        await alice.wait_for_selector(f"{pop}[data-recording=on] .record-pause",
                                      timeout=10000)
        assert await alice.is_hidden(f"{pop} .record")
        # Every call of this tenant is recorded: stopping is refused, and says why.
        await alice.click(f"{pop} .record-stop")
        await alice.wait_for_selector("#conn:text('recording-required')", timeout=5000)
        await ccari.ari.hangup(live.channel_id or "")
        await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)
