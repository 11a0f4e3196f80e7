"""A supervisor monitors a call from the supervisor page in Chromium; the agent's page, in
Chromium too, shows who whispers to her, and her mute button."""

from __future__ import annotations

import json

import pytest

from ccari.app import Runtime, internal_app
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import closed, connected_call, three_legs

pytestmark = [pytest.mark.pbx, pytest.mark.browser]


async def test_monitor_buttons_and_what_the_agent_sees(ccari: Runtime, voice_env: VoiceEnv) -> None:
    assert ccari.ari is not None
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    legs = await three_legs(voice_env)
    try:
        async with listening(internal_app(ccari)) as base, chromium() as browser:
            alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                      "alice", secrets["acme.alice.web"])
            sam = await agent_login(await (await browser.new_context()).new_page(), base,
                                    "sam", secrets["acme.sam.web"], ready=False)
            await sam.goto(f"{base}/supervisor")
            async with legs["agent"].sipp, legs["supervisor"].sipp:
                live = await connected_call(ccari, voice_env, legs)
                pop = ".work-item[data-medium=voice]"
                await alice.wait_for_selector(f"{pop}[data-status=connected]", timeout=10000)
                row = f"#calls tbody tr[data-contact='{live.id}']"
                await sam.wait_for_selector(f"{row}[data-state=connected]", timeout=10000)
                assert "Alice Sales" in await sam.text_content(f"{row} td:nth-child(3)")

                await sam.click(f"{row} .monitor-listen")
                await sam.wait_for_selector(
                    f"{row} .monitors:text('Sam Supervisor: listen (connected)')", timeout=10000)
                assert await alice.is_hidden(f"{pop} .monitored")  # listening is not shown
                await sam.click(f"{row} .monitor-whisper")
                await alice.wait_for_selector(
                    f"{pop} .monitored:text('Sam Supervisor is whispering to you')", timeout=5000)
                await sam.wait_for_selector(f"{row} .monitors:text('whisper')", timeout=5000)

                # Her mute button, from her page.
                await alice.click(f"{pop} .mute")
                await alice.wait_for_selector(f"{pop}[data-muted=yes] .unmute", timeout=5000)
                await sam.wait_for_selector(f"{row} td:text('agent muted')", timeout=5000)
                await alice.click(f"{pop} .unmute")
                await alice.wait_for_selector(f"{pop}[data-muted=no] .mute", timeout=5000)

                await sam.click(f"{row} .monitor-stop")
                await alice.wait_for_selector(f"{pop} .monitored", state="hidden", timeout=5000)

                async def no_session() -> bool:
                    return not any(c.id.startswith(("sup-", "snoop-"))
                                   for c in await ccari.ari.list_channels())

                await eventually(no_session, what="sam's phone and the snoop gone")
                await ccari.ari.hangup(live.channel_id or "")
                await alice.wait_for_selector(f"{pop}[data-status=wrap-up]", timeout=10000)
    finally:
        await closed(legs)
