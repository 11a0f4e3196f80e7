"""A tenant's own prompt on the real Asterisk: uploaded through the API (a 700 Hz tone, as a
44.1 kHz stereo WAV), set as acme's menu prompt, and heard by the caller's RTP peer: the
file reached Asterisk's sounds without a restart or a reload, converted to what it plays."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app
from tests.provisioning.test_prompts import tone_wav
from tests.support.rtp import RtpPeer, tone
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.media import media_caller

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}
PROMPT_HZ, CALLER_HZ, ELSEWHERE_HZ = 700.0, 500.0, 1100.0


async def test_the_ivr_plays_the_tenants_uploaded_prompt_to_the_caller(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(internal_app(ccari))
    resp = await client.put("/api/tenants/acme/prompts/tone", data=tone_wav(4.0, PROMPT_HZ, 44100),
                            headers={**ADMIN, "Content-Type": "audio/wav"})
    assert resp.status == 201, await resp.text()
    menu = await (await client.get("/api/tenants/acme/menus/main", headers=ADMIN)).json()
    resp = await client.put("/api/tenants/acme/menus/main", headers=ADMIN,
                            json={**menu, "prompt": "tenant:tone"})
    assert resp.status == 200, await resp.text()

    sink = await RtpPeer.open(CARRIER_IP, tone(1.0, CALLER_HZ))
    caller = media_caller(voice_env, sdp_port=sink.port, hangup_after_ms=3000, caller="15550199")
    try:
        await caller.start()
        await hears_the_prompt(sink, "the IVR's first packet", "the caller to hear the 700 Hz prompt")
        assert (await caller.wait(15)).ok
    finally:
        sink.close()
        await caller.stop()


async def _true(value: object) -> bool:
    return bool(value)


async def hears_the_prompt(sink: RtpPeer, first: str, heard: str) -> None:
    """From the first packet Asterisk sends (``first``), the caller hears the 700 Hz prompt:
    loud (sent at 8000), and clean: not speech, not an echo of her own tone."""
    await eventually(lambda: _true(sink.remote), what=first)
    since = time.monotonic() + 0.3  # what Asterisk sent before the playback started

    async def loud() -> dict[float, float] | None:
        until = time.monotonic()
        if until - since < 1.0:
            return None
        levels = sink.tones(since, until, (PROMPT_HZ, CALLER_HZ, ELSEWHERE_HZ))
        return levels if levels[PROMPT_HZ] >= 4000 else None

    levels = await eventually(loud, 10, heard)
    assert levels[ELSEWHERE_HZ] < 300 and levels[CALLER_HZ] < 300, levels
