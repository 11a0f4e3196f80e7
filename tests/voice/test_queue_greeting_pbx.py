"""A queue's greeting on the real Asterisk: acme uploads a 700 Hz tone, names it as its queue
``main``'s greeting, and a caller sent straight to that queue (no agent ready) hears it first,
while the contact waits queued."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app
from tests.provisioning.test_prompts import tone_wav
from tests.support.rtp import RtpPeer, tone
from tests.voice.conftest import CARRIER_IP, VoiceEnv
from tests.voice.media import media_caller
from tests.voice.test_business_hours_pbx import DID, call_of
from tests.voice.test_prompts_pbx import CALLER_HZ, PROMPT_HZ, hears_the_prompt

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}


async def test_a_caller_joining_the_queue_first_hears_its_greeting(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(internal_app(ccari))
    resp = await client.put("/api/tenants/acme/prompts/welcome-tone",
                            data=tone_wav(2.5, PROMPT_HZ, 44100),
                            headers={**ADMIN, "Content-Type": "audio/wav"})
    assert resp.status == 201, await resp.text()
    for path, body in (("/queues/main", {"greeting": "tenant:welcome-tone"}),
                       (f"/numbers/{DID}", {"queue": "main"})):  # no menu: straight to the queue
        resp = await client.put(f"/api/tenants/acme{path}", headers=ADMIN, json=body)
        assert resp.status == 200, await resp.text()

    sink = await RtpPeer.open(CARRIER_IP, tone(1.0, CALLER_HZ))
    caller = media_caller(voice_env, sdp_port=sink.port, hangup_after_ms=3500, caller="15550197")
    try:
        await caller.start()
        await hears_the_prompt(sink, "the queue's first packet",
                               "the caller to hear the queue's 700 Hz greeting")
        waiting = await call_of(ccari, "15550197", "queued")
        assert waiting is not None and waiting.queued_at is not None  # heard while in the queue
        assert (await caller.wait(15)).ok
    finally:
        sink.close()
        await caller.stop()

