"""The agent's recording buttons on her page in Chromium: a call the policy records shows as
recorded, she pauses and resumes it (the pause is kept), and on demand she starts and stops."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from ccari.app import Runtime, internal_app
from tests.support.browser import agent_login, chromium
from tests.support.sipp import free_tcp_port
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import closed, connected_call, three_legs
from tests.voice.test_recording_pbx import recordings_of, set_policy

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_the_recording_buttons_on_the_agent_page(ccari: Runtime, voice_env: VoiceEnv) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "on-demand", "retention_days": None, "queues": {}})
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(internal_app(ccari))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with chromium() as browser:
            alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                      "alice", secrets["acme.alice.web"])
            async with legs["agent"].sipp:
                live = await connected_call(ccari, voice_env, legs)
                pop = ".work-item[data-medium=voice]"
                await alice.wait_for_selector(f"{pop}[data-status=connected] .record",
                                              timeout=10000)
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
    finally:
        await closed(legs)
        await runner.cleanup()


async def test_a_call_the_policy_records_shows_as_recorded(ccari: Runtime,
                                                         voice_env: VoiceEnv) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "all", "retention_days": None, "queues": {}})
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(internal_app(ccari))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with chromium() as browser:
            alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                      "alice", secrets["acme.alice.web"])
            async with legs["agent"].sipp:
                live = await connected_call(ccari, voice_env, legs)
                pop = ".work-item[data-medium=voice]"
                await alice.wait_for_selector(f"{pop}[data-recording=on] .record-pause",
                                              timeout=10000)
                assert await alice.is_hidden(f"{pop} .record")
                # Every call of this tenant is recorded: stopping is refused, and says why.
                await alice.click(f"{pop} .record-stop")
                await alice.wait_for_selector("#conn:text('recording-required')", timeout=5000)
                await ccari.ari.hangup(live.channel_id or "")
                await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)
    finally:
        await closed(legs)
        await runner.cleanup()
