"""Kill -9 ccari while a call is being recorded: Asterisk keeps recording the bridge, the
restarted ccari finds the recording under way (reconcile) and keeps it when the call ends;
the file covers the whole call, the minutes ccari was away included."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.config import Config
from ccari.pbx import PbxProcess
from ccari.recording import files
from ccari.recording.models import Recording
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, Tenant
from tests.support.agent_web import AgentPage, open_agent_page
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import closed, three_legs
from tests.voice.test_call_controls_pbx import rest
from tests.voice.test_recording_pbx import HEARD, WINDOW_S, pcm_track, tone_track
from tests.voice.test_restart import CcariProcess, ccari_proc

pytestmark = pytest.mark.pbx
__all__ = ["ccari_proc"]


async def alice_page(proc: CcariProcess, env: VoiceEnv) -> AgentPage:
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    return await open_agent_page(f"http://127.0.0.1:{proc.port}", "acme", "alice",
                                 secrets["acme.alice.web"])


async def one(sessions: async_sessionmaker[AsyncSession], model: Any, state: str,
              **where: Any) -> Any:
    async with sessions() as s:
        rows = list(await s.scalars(select(model).filter_by(**where)))
    return rows[0] if len(rows) == 1 and rows[0].state == state else None


@dataclass
class RecordedCall:
    """A connected, recorded call from the IVR's caller to alice, ccari running."""
    sessions: async_sessionmaker[AsyncSession]
    live: Contact
    row: Recording
    legs: dict[str, Any]


@asynccontextmanager
async def recorded_call(cfg: Config, env: VoiceEnv,
                        proc: CcariProcess) -> AsyncIterator[RecordedCall]:
    """Record every acme call, connect the caller to alice and wait for the recording to
    start; the legs and the engine are closed on the way out."""
    engine = make_engine(cfg.database.url)
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert acme is not None
        acme.recording = {"mode": "all", "retention_days": None, "queues": {}}
        await s.commit()
    legs = await three_legs(env, supervisor=False)
    customer = legs["customer"].sink
    try:
        await proc.start()
        page = await alice_page(proc, env)
        assert (await page.presence("ready"))["state"] == "ready"
        await page.close()
        async with legs["agent"].sipp:
            await legs["customer"].sipp.start()
            await eventually(lambda: _true(customer.remote), what="the IVR's first words")
            customer.press("1")
            live: Contact = await eventually(
                lambda: one(sessions, Contact, "connected", caller_number="15550199"),
                what="connected")
            row = await eventually(lambda: one(sessions, Recording, "recording",
                                               contact_id=live.id), what="the recording")
            yield RecordedCall(sessions, live, row, legs)
    finally:
        await closed(legs)
        await engine.dispose()


async def test_a_recording_under_way_when_ccari_is_killed_is_kept(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with recorded_call(voice_cfg, voice_env, ccari_proc) as call:
        sessions, live, row = call.sessions, call.live, call.row
        await eventually(lambda: _true(time.time() - row.started_at.timestamp() >= 2.0),
                         what="two seconds recorded")
        await ccari_proc.kill()
        killed = time.time()
        # While ccari is away the call goes on, and so does Asterisk's recording.
        await eventually(lambda: _true(time.time() - killed >= 2.0), what="ccari away")
        await ccari_proc.start()
        back = time.time()
        page = await alice_page(ccari_proc, voice_env)
        try:
            # The restarted ccari knows the call and its recording: it is still going.
            async with sessions() as s:
                assert (await s.get(Recording, row.id)).state == "recording"  # type: ignore[union-attr]
            status, body = await rest(page, live.id, "record_pause")
            assert status == 200, body
            assert (await rest(page, live.id, "record_resume"))[0] == 200
            await eventually(lambda: _true(time.time() - back >= 1.5), what="talk again")
            assert (await rest(page, live.id, "hangup"))[0] == 200
        finally:
            await page.close()
        kept: Recording = await eventually(
            lambda: one(sessions, Recording, "stored", contact_id=live.id),
            what="the recording kept")
        ended = time.time()

    assert kept.path == files.relative_path(live.tenant_id, kept.id) and kept.sha256
    audio = files.read(voice_env.state_dir, kept.path, kept.sha256)
    assert audio is not None, "the file matches its checksum"
    with wave.open(io.BytesIO(audio)) as w:
        assert w.getframerate() == 8000
    length, track = tone_track(audio)
    start = kept.started_at.timestamp()
    assert ended - start - 2.0 <= length <= ended - start + 0.5, (length, ended - start)
    # The seconds ccari was away are in the file, both voices in them.
    away = [(at, c, a) for at, c, a in track
            if killed - start + 0.3 <= at and at + WINDOW_S <= back - start - 0.3]
    assert len(away) >= 6, (killed - start, back - start, length)
    assert all(c >= HEARD and a >= HEARD for _, c, a in away), away


async def _true(value: object) -> bool:
    return bool(value)


def both_voices_s(track: list[tuple[float, float, float]]) -> float:
    return WINDOW_S * sum(1 for _, c, a in track if c >= HEARD and a >= HEARD)


async def _both_in(wav: Path, seconds: float) -> bool:
    """Asterisk's recording, as written so far (past its 44-byte header), holds both phones
    for ``seconds``."""
    if not wav.exists():
        return False
    return both_voices_s(pcm_track(wav.read_bytes()[44:], 8000)[1]) >= seconds


async def test_a_recording_whose_call_ended_while_ccari_was_away_is_kept_on_restart(
    voice_cfg: Config, voice_env: VoiceEnv, voice_pbx: PbxProcess,
    ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with recorded_call(voice_cfg, voice_env, ccari_proc) as call:
        sessions, live, row = call.sessions, call.live, call.row
        # Asterisk's file, not the row's start time: under load Asterisk's recording
        # begins a little after ccari asked for it.
        wav = voice_pbx.paths.host / "spool" / "recording" / f"{row.id}.wav"
        # Both voices for a second in it (on a loaded box the phones' RTP may begin a second
        # after Asterisk's recording did).
        await eventually(lambda: _both_in(wav, 1.0), what="both voices in Asterisk's file")
        await ccari_proc.kill()
        # The customer hangs up while ccari is away.
        await asyncio.to_thread(voice_pbx.rx, f"channel request hangup {live.channel_id}")
        await call.legs["customer"].sipp.wait()
        await ccari_proc.start()
        kept: Recording = await eventually(
            lambda: one(sessions, Recording, "stored", contact_id=live.id),
            what="the recording kept")
        done: Contact = await eventually(
            lambda: one(sessions, Contact, "completed", id=live.id), what="the call's end")
    assert done.disposition == "caller-hangup"
    assert kept.path and kept.sha256
    audio = files.read(voice_env.state_dir, kept.path, kept.sha256)
    assert audio is not None
    length, track = tone_track(audio)
    assert length >= 1.5
    assert both_voices_s(track) >= 1.0, track  # what was there when ccari was killed
