"""Kill -9 ccari while the agent has her caller on hold and her phone muted: Asterisk keeps
the caller on music; the restarted ccari rebuilds both from the call's bridge and the
contact's log, so the agent resumes and unmutes as if nothing had happened."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari.rest import AriRest
from ccari.config import Config
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact
from tests.voice.calls import rest, table
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import Leg, closed, settled, three_legs
from tests.voice.test_recording_restart import alice_page
from tests.voice.test_restart import CcariProcess, ccari_proc

pytestmark = pytest.mark.pbx
__all__ = ["ccari_proc"]


async def connected(sessions: async_sessionmaker[AsyncSession]) -> Contact | None:
    async with sessions() as s:
        rows = list(await s.scalars(select(Contact).where(Contact.state == "connected")))
    return rows[0] if len(rows) == 1 else None


async def music_to(ari: AriRest, channel_id: str) -> int:
    """RTP packets Asterisk sends the caller in a second (the caller's leg sends none of
    its own while held: what she gets is the music)."""
    before = (await ari.rtp_statistics(channel_id))["txcount"]
    await asyncio.sleep(1.0)
    return int((await ari.rtp_statistics(channel_id))["txcount"] - before)


async def speak(ari: AriRest, it: Leg, channel_id: str) -> None:
    host, _, port = (await ari.get_var(channel_id, "CHANNEL(rtp,src)")).rpartition(":")
    it.sink.start(("127.0.0.1" if host in ("", "0.0.0.0") else host, int(port)))


async def _true(value: Any) -> bool:
    return bool(value)


async def test_a_held_and_muted_call_survives_a_restart_of_ccari(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    engine = make_engine(voice_cfg.database.url)
    sessions = make_sessionmaker(engine)
    legs = await three_legs(voice_env, supervisor=False)
    p = voice_cfg.pbx
    try:
        async with aiohttp.ClientSession() as http:
            ari = AriRest(http, f"http://127.0.0.1:{p.ari_port}", p.ari_user, p.ari_password,
                          p.app_name)  # REST only: the app's events stay ccari's
            await ccari_proc.start()
            page = await alice_page(ccari_proc, voice_env)
            assert (await page.presence("ready"))["state"] == "ready"
            async with legs["agent"].sipp:
                await legs["customer"].sipp.start()
                customer = legs["customer"].sink
                await eventually(lambda: _true(customer.remote), what="the IVR's first words")
                customer.press("1")
                live = await eventually(lambda: connected(sessions), what="connected")
                cid, caller_leg = live.id, live.channel_id or ""
                assert live.agent_channel_id and live.bridge_id
                await speak(ari, legs["agent"], live.agent_channel_id)
                both = table(legs, "customer<agent", "agent<customer")
                assert await settled(legs, both) == both
                assert (await rest(page, cid, "hold"))[0] == 200
                assert (await rest(page, cid, "mute"))[0] == 200
                held = time.monotonic()
                await page.close()

                await ccari_proc.kill()
                # Away, the caller stays on the music, out of the call's bridge.
                assert await music_to(ari, caller_leg) >= 25
                await ccari_proc.start()
                page = await alice_page(ccari_proc, voice_env)
                assert caller_leg not in (await ari.get_bridge(live.bridge_id)).channels
                assert await music_to(ari, caller_leg) >= 25
                # The restarted ccari knows she is on hold and muted (once its reconcile
                # has rebuilt the call: until then it is nobody's, 404).

                async def hold_again() -> tuple[int, str] | None:
                    status, body = await rest(page, cid, "hold")
                    return None if status == 404 else (status, body.get("error", ""))

                assert await eventually(hold_again, what="the call rebuilt") == (
                    409, "call-on-hold")
                status, body = await rest(page, cid, "mute")
                assert (status, body["error"]) == (409, "already-muted")
                assert await rest(page, cid, "resume") == (
                    200, {"type": "resumed", "contact_id": cid})
                resumed = time.monotonic()
                muted = table(legs, "agent<customer")  # the caller back, alice still muted
                assert await settled(legs, muted) == muted
                assert await rest(page, cid, "unmute") == (
                    200, {"type": "unmuted", "contact_id": cid})
                assert await settled(legs, both) == both
                assert (await rest(page, cid, "hangup"))[0] == 200
                ended = await eventually(lambda: _ended(sessions, cid), what="completed")
            await page.close()
    finally:
        await closed(legs)
        await engine.dispose()
    # The hold's time counts the minutes ccari was away.
    assert abs(ended.meta["hold_s"] - (resumed - held)) < 1.5, (ended.meta, resumed - held)
    assert ended.disposition == "agent-hangup"


async def _ended(sessions: async_sessionmaker[AsyncSession], cid: str) -> Contact | None:
    async with sessions() as s:
        row = await s.get(Contact, cid)
    return row if row is not None and row.state == "completed" else None
