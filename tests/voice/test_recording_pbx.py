"""Call recording on the real Asterisk: the customer's and the agent's phones each send
their own tone (``tests/voice/media.py``); the recording of the call's bridge is read back
through the tenant's API and its tones measured over time."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ccari.app import Runtime
from ccari.ari.errors import AriError
from ccari.contacts import repo
from ccari.recording.models import Recording
from ccari.storage.models import Tenant
from tests.support.rtp import amplitude_at
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import FREQS, closed, connected_call, three_legs
from tests.voice.test_call_controls_pbx import page_of, rest, served  # noqa: F401 - fixture
from tests.voice.test_voice_pbx import ready

pytestmark = pytest.mark.pbx
WINDOW_S = 0.25
HEARD = 800.0  # a leg's tone in the recording (each phone sends it at 8000)
SILENT = 100.0


async def set_policy(rt: Runtime, policy: dict[str, Any] | None) -> None:
    async with rt.sessions() as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert tenant is not None
        tenant.recording = policy
        await s.commit()


async def recordings_of(rt: Runtime, contact_id: str) -> list[Recording]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(Recording).where(Recording.contact_id == contact_id)))


def tone_track(audio: bytes) -> tuple[float, list[tuple[float, float, float]]]:
    """The WAV's length, and per window (start s, customer's tone, agent's tone)."""
    with wave.open(io.BytesIO(audio)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
    return pcm_track(frames, rate)


def pcm_track(frames: bytes, rate: int) -> tuple[float, list[tuple[float, float, float]]]:
    """:func:`tone_track` of raw 16-bit mono samples (e.g. a WAV still being written)."""
    samples = [int.from_bytes(frames[i:i + 2], "little", signed=True)
               for i in range(0, len(frames) - 1, 2)]
    step = int(rate * WINDOW_S)
    track = []
    for start in range(0, len(samples) - step + 1, step):
        chunk = samples[start:start + step]
        track.append((start / rate, amplitude_at(chunk, FREQS["customer"], rate),
                      amplitude_at(chunk, FREQS["agent"], rate)))
    return len(samples) / rate, track


async def test_a_recorded_call_paused_for_5_s_has_both_voices_and_the_silence_in_place(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    await set_policy(ccari, {"mode": "all", "retention_days": None, "queues": {}})
    await ready(ccari, "alice")
    page = await page_of(served, "alice")
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with legs["agent"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            cid = live.id
            [row] = await eventually(lambda: recordings_of(ccari, cid), what="the recording")
            assert row.state == "recording" and row.id == f"rec-{cid}-1"
            # The policy records every call: the agent may not stop it, nor start another.
            assert (await rest(page, cid, "record_stop"))[1]["error"] == "recording-required"
            assert (await rest(page, cid, "record"))[1]["error"] == "already-recording"
            assert (await rest(page, cid, "record_resume"))[1]["error"] == "recording-not-paused"

            await asyncio.sleep(2.0)  # two seconds of conversation
            assert await rest(page, cid, "record_pause") == (200, {
                "type": "recording-paused", "contact_id": cid, "recording": row.id})
            paused_at = time.monotonic()
            assert (await rest(page, cid, "record_pause"))[1]["error"] == "recording-paused"
            await asyncio.sleep(5.0 - (time.monotonic() - paused_at))  # the card number
            assert (await rest(page, cid, "record_resume"))[0] == 200
            await asyncio.sleep(2.0)
            assert (await rest(page, cid, "hangup"))[0] == 200

            async def stored() -> Recording | None:
                [it] = await recordings_of(ccari, cid)
                return it if it.state == "stored" else None

            row = await eventually(stored, what="the recording kept")
    finally:
        await page.close()
        await closed(legs)

    [[paused_from, paused_to]] = row.pauses
    assert 4.7 <= paused_to - paused_from <= 5.5, row.pauses
    base, secrets = served
    token = {"Authorization": f"Bearer {secrets['acme.token']}"}
    async with aiohttp.ClientSession(base) as http:
        async with http.get(f"/api/recordings?contact={cid}", headers=token) as resp:
            listed = (await resp.json())["recordings"]
        assert [(r["id"], r["state"]) for r in listed] == [(row.id, "stored")]
        async with http.get(listed[0]["audio"], headers=token) as resp:
            assert resp.status == 200 and resp.content_type == "audio/wav"
            audio = await resp.read()

    length, track = tone_track(audio)
    # From the bridge to the hang-up: 2 s, the 5 s pause, 2 s (and the REST round trips).
    assert 8.8 <= length <= 10.5 and abs(length - (row.duration_s or 0)) < 0.01
    talk = [(at, c, a) for at, c, a in track if at + WINDOW_S <= paused_from - 0.3
            or paused_to + 0.3 <= at <= length - 0.6]
    hushed = [(at, c, a) for at, c, a in track if paused_from + 0.1 <= at
              and at + WINDOW_S <= paused_to - 0.1]
    assert len(talk) >= 10 and len(hushed) >= 16, (paused_from, paused_to, length)
    # Before and after the pause: the customer and the agent both in the recording.
    assert all(c >= HEARD and a >= HEARD for at, c, a in talk[1:]), talk
    # During the pause: silence, where the pause was.
    assert all(c <= SILENT and a <= SILENT for at, c, a in hushed), hushed
    async with ccari.sessions() as s:
        log = [(e.kind, e.data) for e in await repo.events(s, live.tenant_id, cid)]
    kinds = [k for k, _ in log if k.startswith("recording-")]
    assert kinds == ["recording-started", "recording-paused", "recording-resumed",
                     "recording-stored"]
    resumed = next(d for k, d in log if k == "recording-resumed")
    assert (resumed["from_s"], resumed["at_s"]) == (paused_from, paused_to)


async def test_the_policy_none_records_nothing(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    await set_policy(ccari, {"mode": "none", "retention_days": None, "queues": {}})
    await ready(ccari, "alice")
    page = await page_of(served, "alice")
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with legs["agent"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            assert await rest(page, live.id, "record") == (409, {
                "error": "recording-off", "message": "this call may not be recorded"})
            assert (await rest(page, live.id, "record_pause"))[1]["error"] == "not-recording"
            assert (await rest(page, live.id, "hangup"))[0] == 200
            await eventually(lambda: _ended(ccari, live.id), what="the call's end")
    finally:
        await page.close()
        await closed(legs)
    assert await recordings_of(ccari, live.id) == []
    assert ccari.ari is not None
    assert [n for n in await ccari.ari.stored_recordings() if live.id in n] == []


async def _ended(rt: Runtime, contact_id: str) -> bool:
    async with rt.sessions() as s:
        contact = await repo.get(s, contact_id)
    return contact is not None and contact.state == "completed"


async def test_on_demand_per_queue_the_agent_starts_and_stops_and_each_is_kept(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    # The tenant records nothing, but its queue "main" (the one acme's number feeds) is on demand.
    await set_policy(ccari, {"mode": "none", "retention_days": None,
                             "queues": {"main": "on-demand"}})
    await ready(ccari, "alice")
    page = await page_of(served, "alice")
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with legs["agent"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            cid = live.id
            assert (await rest(page, cid, "record_stop"))[1]["error"] == "not-recording"
            for n in (1, 2):  # numbered from 1: nothing was recorded before the agent asked
                assert await rest(page, cid, "record") == (200, {
                    "type": "recording", "contact_id": cid, "recording": f"rec-{cid}-{n}"})
                await asyncio.sleep(1.5)  # what is recorded
                assert (await rest(page, cid, "record_stop"))[0] == 200

            async def both_stored() -> list[Recording] | None:
                rows = await recordings_of(ccari, cid)
                return rows if len(rows) == 2 and all(r.state == "stored" for r in rows) else None

            rows = await eventually(both_stored, what="both recordings kept")
            assert (await rest(page, cid, "hangup"))[0] == 200
    finally:
        await page.close()
        await closed(legs)
    for row in rows:
        assert row.path is not None and row.sha256 is not None
        audio = (voice_env.state_dir / row.path).read_bytes()
        length, track = tone_track(audio)
        assert 1.3 <= length <= 2.5, (row.id, length)
        assert all(c >= HEARD and a >= HEARD for _, c, a in track[1:-1]), (row.id, track)


async def test_a_pause_or_a_stop_asterisk_refuses_is_not_saved_as_done(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asterisk fails the pause (or the stop): the agent is told, and the recording's record
    says what Asterisk does: no stretch said silent that was recorded (a card number read
    out after a pause that did not happen), no recording said stopped that goes on."""
    await set_policy(ccari, {"mode": "none", "retention_days": None,
                             "queues": {"main": "on-demand"}})
    await ready(ccari, "alice")
    page = await page_of(served, "alice")
    legs = await three_legs(voice_env, supervisor=False)
    assert ccari.ari is not None

    async def refused(name: str) -> None:
        raise AriError("Internal Server Error", status_code=500)

    try:
        async with legs["agent"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            cid = live.id
            assert (await rest(page, cid, "record"))[0] == 200
            with monkeypatch.context() as patch:
                patch.setattr(ccari.ari, "mute_recording", refused)
                patch.setattr(ccari.ari, "stop_recording", refused)
                assert (await rest(page, cid, "record_pause"))[1]["error"] == "pbx-error"
                assert (await rest(page, cid, "record_stop"))[1]["error"] == "pbx-error"
            [row] = await recordings_of(ccari, cid)
            assert (row.state, row.pauses) == ("recording", [])
            async with ccari.sessions() as s:
                kinds = [e.kind for e in await repo.events(s, live.tenant_id, cid)]
            assert "recording-paused-failed" in kinds and "recording-stop-failed" in kinds
            # Asterisk takes them again: both work.
            assert (await rest(page, cid, "record_pause"))[0] == 200
            assert (await rest(page, cid, "record_resume"))[0] == 200
            assert (await rest(page, cid, "record_stop"))[0] == 200
            assert (await rest(page, cid, "hangup"))[0] == 200
    finally:
        await page.close()
        await closed(legs)
