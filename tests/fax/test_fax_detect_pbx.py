"""Fax machines that call a tenant's voice number, on the real PBX: where the tenant detects
faxes, Asterisk finds the calling tone (CNG) in the first seconds after the answer and the
call is received as a fax, shown like one sent to the fax number; a voice caller who speaks
and presses digits on the same number is queued as usual."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from typing import Any

import pypdf
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.ami import AmiAdapter
from ccari.app import Runtime, internal_app, runtime
from ccari.fax.models import Fax
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact
from tests.fax.conftest import SENDER, STATION, FaxEnv, fax_pages, write_tiff
from tests.fax.test_fax_pbx import differing, settled
from tests.support.rtp import RtpPeer, tone
from tests.support.sipp import Sipp, free_port
from tests.support.waits import eventually

pytestmark = pytest.mark.pbx
VOICE_DID = "15550100"  # acme's voice number (its IVR: 1 = sales, 2 = support)
CARRIER_IP = "127.0.0.2"
LISTEN_S = 4.0  # fax.detect_s here: a CNG cycle is 3.5 s
SILENCE = b"\xff"  # mu-law silence


@pytest.fixture
async def ccari(fax_db: tuple[Any, dict[str, Any]]) -> AsyncIterator[Runtime]:
    cfg = fax_db[0]
    async with runtime(dataclasses.replace(
            cfg, fax=dataclasses.replace(cfg.fax, detect_s=LISTEN_S))) as rt:
        yield rt


async def detect_on_voice(client: TestClient, token: str, on: bool) -> None:
    resp = await client.put("/api/faxes/settings", json={"detect_on_voice": on},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200 and (await resp.json()) == {"detect_on_voice": on}


async def voice_contacts(rt: Runtime) -> list[Contact]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(Contact).where(Contact.medium == "voice")))


def caller(env: FaxEnv, sink: RtpPeer, hangup_after_ms: int,
           scenario: str = "caller_media.xml", **params: int) -> Sipp:
    return Sipp(scenario, f"127.0.0.1:{env.pbx_config.sip_port}", service=VOICE_DID,
                local_ip=CARRIER_IP, params={"caller": SENDER, "sdp_port": sink.port,
                                             "hangup_after_ms": hangup_after_ms, **params},
                timeout_s=30, recv_timeout_ms=20000)


async def test_a_fax_machine_calling_the_voice_number_is_received_as_a_fax(
        ccari: Runtime, fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter,
        aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    await detect_on_voice(client, demo["acme.token"], True)
    # A real fax machine (SendFax, which sends CNG as a caller does) dials the voice number.
    sent = fax_pages(1)
    tiff = write_tiff(fax_pbx, "detected", sent)
    result = await ami.originate(
        action_id="faxsend-voice", channel_id="faxsend-voice",
        channel=f"Local/{VOICE_DID}@from-carrier", application="SendFax", data=str(tiff),
        caller_id=f'"Remote" <{SENDER}>', variables={"FAXOPT(localstationid)": STATION},
        timeout_ms=10000)
    assert result.success, result.response
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["detected"], fax["mode"]) == (
        "received", 1, True, "audio")
    assert (fax["sender_number"], fax["station_id"]) == (SENDER, STATION)
    acme = {"Authorization": f"Bearer {demo['acme.token']}"}
    resp = await client.get(fax["pdf"], headers=acme)
    assert resp.status == 200
    [page] = pypdf.PdfReader(io.BytesIO(await resp.read())).pages
    assert differing(page.images[0].image, sent[0]) < 0.01
    # A fax contact waiting for an agent with a fax slot; the voice call it began as is
    # over (never queued for a voice agent).
    async with ccari.sessions() as s:
        contact = await s.get(Contact, fax["contact_id"])
        assert contact is not None and contact.medium == "fax"
        assert contact.state in ("queued", "offered")
    [voice] = await voice_contacts(ccari)
    assert (voice.state, voice.disposition, voice.queued_at) == (
        "completed", "fax-detected", None)


async def test_cng_on_the_voice_number_goes_to_the_fax_path(
        ccari: Runtime, fax_db: Any, fax_env: FaxEnv, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    await detect_on_voice(client, demo["acme.token"], True)
    # Only the calling tone (1100 Hz, 0.5 s on, 3 s off), then the caller hangs up.
    sink = await RtpPeer.open(CARRIER_IP, tone(0.5, 1100) + SILENCE * 24000)
    try:
        # An audio-only machine: it refuses ReceiveFax's T.38 re-INVITE (ccari falls back).
        async with caller(fax_env, sink, hangup_after_ms=5000,
                          scenario="caller_fax_audio.xml") as sipp:
            assert (await sipp.wait(30)).ok
    finally:
        sink.close()
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["detected"]) == ("failed", 0, True)
    assert fax["sender_number"] == SENDER and fax["error"]
    [voice] = await voice_contacts(ccari)
    assert (voice.state, voice.disposition) == ("completed", "fax-detected")


async def test_a_t38_reinvite_on_the_voice_number_goes_to_the_fax_path(
        ccari: Runtime, fax_db: Any, fax_env: FaxEnv, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    await detect_on_voice(client, demo["acme.token"], True)
    # A machine that sends no calling tone at all: one second after the answer it asks for
    # T.38 (re-INVITE); the scenario fails unless Asterisk accepts it (m=image ... t38).
    sink = await RtpPeer.open(CARRIER_IP, SILENCE * 8000)
    try:
        async with caller(fax_env, sink, hangup_after_ms=3000,
                          scenario="caller_t38_reinvite.xml", reinvite_after_ms=1000,
                          udptl_port=free_port(CARRIER_IP)) as sipp:
            assert (await sipp.wait(30)).ok
    finally:
        sink.close()
    # It sent no page before hanging up: a failed fax, found on the voice number, over T.38.
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["detected"]) == ("failed", 0, True)
    assert fax["sender_number"] == SENDER and fax["error"]
    [voice] = await voice_contacts(ccari)
    assert (voice.state, voice.disposition) == ("completed", "fax-detected")


async def test_a_voice_caller_on_the_same_number_is_queued_as_usual(
        ccari: Runtime, fax_db: Any, fax_env: FaxEnv, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    await detect_on_voice(client, demo["acme.token"], True)
    # Voice-like sound (tones that come and go), and "1" for sales within the first second.
    speech = b"".join(tone(0.3, hz) + SILENCE * 800 for hz in (220, 440, 330, 880, 660, 1000))
    sink = await RtpPeer.open(CARRIER_IP, speech)
    try:
        async with caller(fax_env, sink, hangup_after_ms=int(LISTEN_S * 1000) + 2500) as sipp:

            async def answered() -> bool:
                return sink.remote is not None

            await eventually(answered, 10, "the call to be answered")
            sink.press("1")

            async def queued() -> Contact | None:
                contacts = await voice_contacts(ccari)
                return contacts[0] if contacts and contacts[0].state == "queued" else None

            await eventually(queued, 10, "the caller to be queued")
            assert (await sipp.wait(30)).ok  # stayed past the detection window
    finally:
        sink.close()

    async def left() -> Contact | None:
        [voice] = await voice_contacts(ccari)
        return voice if voice.state == "abandoned" else None

    voice = await eventually(left, 10, "the caller's hang-up to end the contact")
    assert voice.disposition == "abandoned-in-queued"  # waited for a voice agent till then
    async with ccari.sessions() as s:
        assert list(await s.scalars(select(Fax))) == []


async def test_fax_detection_is_off_unless_the_tenant_turns_it_on(
        ccari: Runtime, fax_db: Any, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    acme = {"Authorization": f"Bearer {demo['acme.token']}"}
    resp = await client.get("/api/faxes/settings", headers=acme)
    assert (resp.status, await resp.json()) == (200, {"detect_on_voice": False})
    resp = await client.put("/api/faxes/settings", json={"detect_on_voice": "yes"}, headers=acme)
    assert (resp.status, (await resp.json())["error"]) == (400, "bad-detect-on-voice")
    await detect_on_voice(client, demo["acme.token"], True)
    globex = {"Authorization": f"Bearer {demo['globex.token']}"}  # its own policy
    resp = await client.get("/api/faxes/settings", headers=globex)
    assert (resp.status, await resp.json()) == (200, {"detect_on_voice": False})


async def test_a_restart_of_ccari_inside_the_window_still_finds_the_fax(
        fax_db: Any, fax_env: FaxEnv, aiohttp_client: Any) -> None:
    """ccari restarts while it listens to a caller; the caller's T.38 request comes after:
    the new process takes it for a fax (without the reconcile its voice contact would end as
    a caller who hung up)."""
    cfg, demo = fax_db
    cfg = dataclasses.replace(cfg, fax=dataclasses.replace(cfg.fax, detect_s=12.0))
    sink = await RtpPeer.open(CARRIER_IP, SILENCE * 8000)
    try:
        async with runtime(cfg) as first:
            client = await aiohttp_client(internal_app(first))
            await detect_on_voice(client, demo["acme.token"], True)
            sipp = caller(fax_env, sink, hangup_after_ms=3000,
                          scenario="caller_t38_reinvite.xml", reinvite_after_ms=6000,
                          udptl_port=free_port(CARRIER_IP))
            await sipp.start()

            async def in_the_ivr() -> Contact | None:
                return next((c for c in await voice_contacts(first) if c.state == "ivr"), None)

            await eventually(in_the_ivr, what="the caller answered and listened to")
        async with runtime(cfg) as second:
            assert (await sipp.wait(30)).ok
            client = await aiohttp_client(internal_app(second))
            [fax] = await settled(client, demo["acme.token"])
            [voice] = await voice_contacts(second)
    finally:
        sink.close()
    assert (fax["detected"], fax["mode"]) == (True, "t38")
    assert (voice.state, voice.disposition) == ("completed", "fax-detected")
