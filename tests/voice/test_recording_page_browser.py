"""A real call's recording played on the contact's page in Chromium: the supervisor follows
the call's link in her page's finished contacts to its contact page, the page's player
loads the recording (its length about the call's), seeks by range requests; a supervisor
of another tenant finds neither the page nor the audio."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.recording.models import Recording
from ccari.storage.models import Agent, Contact
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import closed, connected_call, three_legs
from tests.voice.test_recording_pbx import recordings_of, set_policy

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
PLAYER = "tr.recording audio"


async def make_supervisor(rt: Runtime, username: str) -> None:
    async with rt.sessions() as s:
        agent = await s.scalar(select(Agent).where(Agent.username == username))
        assert agent is not None
        agent.role = "supervisor"
        await s.commit()


async def test_the_supervisor_plays_a_calls_recording_on_the_contact_page(
        ccari: Runtime, voice_env: VoiceEnv) -> None:
    assert ccari.ari is not None
    await set_policy(ccari, {"mode": "all", "retention_days": None, "queues": {}})
    await make_supervisor(ccari, "carol")  # globex's, for the other tenant's view
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with listening(internal_app(ccari)) as base, chromium() as browser:
            await agent_login(await (await browser.new_context()).new_page(), base, "alice",
                              secrets["acme.alice.web"])
            async with legs["agent"].sipp:
                live = await connected_call(ccari, voice_env, legs)
                await asyncio.sleep(3.0)  # three seconds of conversation
                await ccari.ari.hangup(live.channel_id or "")

                async def kept() -> Recording | None:
                    rows = await recordings_of(ccari, live.id)
                    return rows[0] if len(rows) == 1 and rows[0].state == "stored" else None

                row = await eventually(kept, what="the recording kept")
            async with ccari.sessions() as s:
                call = await s.get(Contact, live.id)
            assert call is not None and call.talk_s is not None

            sam_context = await browser.new_context()
            sam = await agent_login(await sam_context.new_page(), base, "sam",
                                    secrets["acme.sam.web"], ready=False)
            # From the supervisor page's finished contacts, the call's link to its page.
            await sam.goto(f"{base}/supervisor")
            row_of_call = f"#finished tr[data-contact='{live.id}']"
            await sam.wait_for_selector(f"{row_of_call} a.contact-page")
            assert await sam.inner_text(f"{row_of_call} .recordings") == "1"
            await sam.click(f"{row_of_call} a.contact-page")
            await sam.wait_for_url(f"{base}/agent/contacts/{live.id}")
            assert await sam.inner_text(f"tr[data-recording='{row.id}'] .heard") == \
                "15550199, Alice Sales"
            # (wait_for_function evaluates a string: the page's CSP forbids that)

            async def player(check: str) -> bool:
                return bool(await sam.eval_on_selector(PLAYER, check))

            await eventually(lambda: player("a => a.readyState >= 1"),
                             what="the player has the recording's length")
            duration = await sam.eval_on_selector(PLAYER, "a => a.duration")
            assert abs(duration - (row.duration_s or 0)) < 0.05
            assert abs(duration - call.talk_s) < 1.0, (duration, call.talk_s)
            # The player seeks: a range request answered with its part.
            src = await sam.get_attribute(PLAYER, "src")
            assert src == f"/agent/recordings/{row.id}/audio"
            part = await sam_context.request.get(f"{base}{src}",
                                                 headers={"Range": "bytes=44-1043"})
            assert part.status == 206 and len(await part.body()) == 1000
            assert part.headers["content-range"] == f"bytes 44-1043/{row.size}"
            await sam.eval_on_selector(PLAYER, "a => { a.currentTime = a.duration / 2; }")
            await eventually(lambda: player("a => !a.seeking && a.currentTime > 0"),
                             what="the player seeked half way")

            carol_context = await browser.new_context()
            carol = await agent_login(await carol_context.new_page(), base, "carol",
                                      secrets["globex.carol.web"], tenant="globex",
                                      ready=False)
            page = await carol.goto(f"{base}/agent/contacts/{live.id}")
            assert page is not None and page.status == 404
            audio = await carol_context.request.get(f"{base}{src}")
            assert audio.status == 404 and (await audio.json())["error"] == "recording-not-found"
    finally:
        await closed(legs)
