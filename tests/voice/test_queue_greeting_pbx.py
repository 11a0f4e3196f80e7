"""A queue's greeting on the real Asterisk: acme uploads a 700 Hz tone, names it as its queue
``main``'s greeting, and a caller sent straight to that queue (no agent ready) hears it first,
while the contact waits queued; a caller an agent sends back to the queue by a blind transfer
hears it again (once per join)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app
from tests.provisioning.test_prompts import tone_wav
from tests.support.openapi import Conformances
from tests.support.rtp import RtpPeer, tone
from tests.voice.calls import command, connected_to, page_of, serving
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.media import media_caller
from tests.voice.test_business_hours_pbx import DID, call_of
from tests.voice.test_prompts_pbx import CALLER_HZ, ELSEWHERE_HZ, PROMPT_HZ, hears_the_prompt
from tests.voice.test_voice_pbx import phone, ready

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}


async def greeting_on_main(client: TestClient) -> None:
    """acme's queue main greets with a 2.5 s 700 Hz tone; its number leads straight there."""
    resp = await client.put("/api/tenants/acme/prompts/welcome-tone",
                            data=tone_wav(2.5, PROMPT_HZ, 44100),
                            headers={**ADMIN, "Content-Type": "audio/wav"})
    assert resp.status == 201, await resp.text()
    for path, body in (("/queues/main", {"greeting": "tenant:welcome-tone"}),
                       (f"/numbers/{DID}", {"queue": "main"})):  # no menu: straight to the queue
        resp = await client.put(f"/api/tenants/acme{path}", headers=ADMIN, json=body)
        assert resp.status == 200, await resp.text()


async def test_a_caller_joining_the_queue_first_hears_its_greeting(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any) -> None:
    await greeting_on_main(await aiohttp_client(internal_app(ccari)))
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



async def test_a_caller_transferred_back_to_the_queue_hears_its_greeting_again(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any,
        openapi_conformance: Conformances) -> None:
    await greeting_on_main(await aiohttp_client(internal_app(ccari)))
    alice = (await ready(ccari, "alice"))["alice"]
    assert await ccari.queue.set_presence(alice, "not_ready") == "not_ready"  # for now
    sink = await RtpPeer.open(CARRIER_IP, tone(1.0, CALLER_HZ))
    caller = media_caller(voice_env, sdp_port=sink.port, hangup_after_ms=0, caller="15550198")
    try:
        async with serving(ccari, voice_env, openapi_conformance) as served, \
                phone(voice_env, "alice"):
            page = await page_of(served, "alice")
            try:
                await caller.start()
                # Greeted on joining; then alice is ready and takes the call.
                await hears_the_prompt(sink, "the queue's first packet",
                                       "the caller to hear the queue's greeting")
                await ccari.queue.set_presence(alice, "ready")  # offered the call at once
                live = await eventually(lambda: connected_to(ccari, alice.id), what="alice")
                moved = await command(page, {"type": "call.transfer", "contact_id": live.id,
                                             "skill": "support"}, "transferred")
                assert moved == {"type": "transferred", "contact_id": live.id}
            finally:
                await page.close()
            since = time.monotonic() + 0.3  # alice's leg gone, the queue's audio from here

            async def greeted_again() -> dict[float, float] | None:
                until = time.monotonic()
                if until - since < 1.0:
                    return None
                levels = sink.tones(since, until, (PROMPT_HZ, CALLER_HZ, ELSEWHERE_HZ))
                return levels if levels[PROMPT_HZ] >= 4000 else None

            levels = await eventually(greeted_again, 10, "the greeting after the transfer")
            assert levels[ELSEWHERE_HZ] < 300 and levels[CALLER_HZ] < 300, levels
            waiting = await call_of(ccari, "15550198", "queued")
            assert waiting is not None and waiting.meta["transfers"] == [
                {"agent_id": alice.id, "to": {"skill": "support"}}]
            await ccari.ari.hangup(waiting.channel_id or "")  # nobody has support: ended here
            assert (await caller.wait(15)).ok
    finally:
        sink.close()
        await caller.stop()
