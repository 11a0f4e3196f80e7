"""ccari stopped and started again at once (a service restart) while a caller listens to the
IVR's prompt: Asterisk is still playing the previous process's prompt, and the new process
takes the caller up without answering again (an answer would wait behind that prompt and
time out); the caller's choice then reaches the agent."""

from __future__ import annotations

import pytest

from ccari.app import runtime
from ccari.config import Config
from ccari.pbx import PbxProcess
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import _true, closed, three_legs
from tests.voice.test_voice_pbx import one_contact_in, ready

pytestmark = pytest.mark.pbx


async def test_a_quick_restart_during_the_ivr_prompt_keeps_the_caller(
        voice_cfg: Config, voice_env: VoiceEnv, voice_pbx: PbxProcess) -> None:
    legs = await three_legs(voice_env, supervisor=False)
    customer = legs["customer"].sink
    try:
        async with runtime(voice_cfg) as first:
            alice = (await ready(first, "alice"))["alice"]
            await legs["agent"].sipp.start()
            await legs["customer"].sipp.start()
            await eventually(lambda: _true(customer.remote), what="the IVR's first words")
            assert await one_contact_in(first, "ivr") is not None
        async with runtime(voice_cfg) as second:
            customer.press("1")  # sales: alice
            live = await eventually(lambda: one_contact_in(second, "connected"),
                                    what="the caller connected to alice")
            assert second.ari is not None and live.channel_id
            await second.ari.hangup(live.channel_id)  # the caller hangs up: nothing left
            await eventually(lambda: one_contact_in(second, "completed"), what="completed")
    finally:
        await closed(legs)
    assert live.agent_id == alice.id
