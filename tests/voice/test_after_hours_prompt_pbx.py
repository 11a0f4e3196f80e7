"""The after-hours announcement from the tenant's own prompt on the real Asterisk: acme uploads
a 700 Hz tone, names it as its number's "we are closed", and a call on a Sunday hears that
tone (not ccari's spoken ``closed``), then ccari hangs up and the contact says after hours."""

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
from tests.voice.test_business_hours_pbx import DID, OFFICE, SUNDAY_10, at, call_of
from tests.voice.test_prompts_pbx import CALLER_HZ, PROMPT_HZ, hears_the_prompt

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}
PROMPT_S = 2.5


async def test_outside_its_hours_the_caller_hears_the_tenants_closed_prompt_then_ccari_hangs_up(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client: TestClient = await aiohttp_client(internal_app(ccari))
    resp = await client.put("/api/tenants/acme/prompts/closed-tone",
                            data=tone_wav(PROMPT_S, PROMPT_HZ, 44100),
                            headers={**ADMIN, "Content-Type": "audio/wav"})
    assert resp.status == 201, await resp.text()
    resp = await client.put(f"/api/tenants/acme/numbers/{DID}", headers=ADMIN, json={
        "menu": "main", "hours": OFFICE,
        "after_hours": {"action": "announcement", "prompt": "tenant:closed-tone"}})
    assert resp.status == 200, await resp.text()
    at(ccari, monkeypatch, SUNDAY_10)

    sink = await RtpPeer.open(CARRIER_IP, tone(1.0, CALLER_HZ))
    caller = media_caller(voice_env, sdp_port=sink.port, hangup_after_ms=0, caller="15550196")
    try:
        started = time.monotonic()
        await caller.start()
        await hears_the_prompt(sink, "the announcement's first packet",
                               "the caller to hear the tenant's 700 Hz prompt")
        result = await caller.wait(15)
        # ccari hung up once the tenant's prompt (2.5 s), not its own closed.wav (4.1 s), ended.
        assert result.ok and result.requests.get("BYE") == 1, result.describe()
        assert PROMPT_S <= time.monotonic() - started < PROMPT_S + 3.5
    finally:
        sink.close()
        await caller.stop()
    closed = await eventually(lambda: call_of(ccari, "15550196", "completed"),
                              what="the call outside hours completed")
    assert closed.disposition == "after-hours" and closed.meta["after_hours"] == "announcement"
    assert closed.queued_at is None and closed.agent_id is None

