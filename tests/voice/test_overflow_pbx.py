"""Overflow treatments that answer the call, on the real PBX: a tenant over its trunk limit
offers voicemail (kept as a contact an agent takes on the page) or a callback (dialled when
a trunk frees up)."""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from ccari.admission.models import AdmissionDecision, TrunkCall
from ccari.app import Runtime, internal_app
from ccari.ari.errors import AriNotFound
from ccari.ari.rest import AriRest
from ccari.callbacks.models import Callback
from ccari.config import Config
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, Tenant
from ccari.voice.overflow import wav_seconds
from ccari.voicemail.models import Voicemail
from tests.support.agent_web import open_agent_page
from tests.support.sipp import Sipp, run_sipp
from tests.voice import test_callbacks_pbx as callbacks_pbx
from tests.voice import test_restart
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.test_callbacks_pbx import (
    ADA,
    Customer,
    Watcher,
    callback_in,
    completed,
    rows,
)
from tests.voice.test_restart import CcariProcess
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx
# The callbacks tests' fixtures: acme's callback settings, the customer's phone (SIPp).
cb, customer, settings = callbacks_pbx.cb, callbacks_pbx.customer, callbacks_pbx.settings
ccari_proc = test_restart.ccari_proc  # ccari as its own process (kill -9)

TALK_S = 3.0


async def over_the_limit(rt: Runtime, overflow: str) -> None:
    """acme: no after-hours trunks, so with no agent ready no call is permitted."""
    async with rt.sessions() as s:
        await s.execute(update(Tenant).where(Tenant.slug == "acme")
                        .values(after_hours_trunks=0, overflow_policy=overflow))
        await s.commit()


def ulaw(sample: int) -> int:
    """G.711 mu-law of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, min(7, magnitude.bit_length() - 8))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(seconds: float, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """What the caller says: a tone, 8 kHz mu-law (SIPp streams it as PCMU)."""
    return bytes(ulaw(round(amplitude * math.sin(2 * math.pi * hz * n / 8000)))
                 for n in range(int(seconds * 8000)))


def loud_seconds(wav: bytes) -> float:
    """Seconds of the recording (16-bit WAV, 8 kHz) with clear sound in them (20 ms frames)."""
    samples = array.array("h", wav[44:])
    frames = [samples[i:i + 160] for i in range(0, len(samples) - 159, 160)]
    loud = sum(1 for f in frames if math.sqrt(sum(x * x for x in f) / 160) > 1000)
    return loud * 0.02


async def page_of(rt: Runtime, aiohttp_client: Any, name: str) -> Watcher:
    """The agent's page, logged in (not ready yet), everything pushed to it collected."""
    client: TestClient = await aiohttp_client(internal_app(rt))
    secrets = json.loads((Path(rt.config.state_dir) / "demo-secrets.json").read_text())
    page = await open_agent_page(str(client.make_url("")).rstrip("/"), "acme", name,
                                 secrets[f"acme.{name}.web"])
    return Watcher(page)


async def test_over_the_limit_the_caller_leaves_a_voicemail_an_agent_takes_on_the_page(
    ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any
) -> None:
    await over_the_limit(ccari, "voicemail")
    result = await run_sipp(
        "caller_voicemail.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
        params={"caller": ADA[1:], "talk_ms": int(TALK_S * 1000)},
        files={"message.ul": tone(TALK_S)}, timeout_s=60, recv_timeout_ms=30000)
    # Answered (the treatment needs the caller's voice), then hung up by ccari after "saved".
    assert result.ok and result.responses.get(200) == 1 and result.requests.get("BYE") == 1, \
        result.describe()

    (message,) = await eventually(lambda: rows(ccari, Voicemail), what="the voicemail")
    assert TALK_S - 0.5 <= message.duration_s <= TALK_S + 3.0, message.duration_s
    assert message.duration_s == pytest.approx(wav_seconds(message.audio), abs=0.01)
    assert loud_seconds(message.audio) >= TALK_S - 0.5  # the caller's voice, not silence
    (call,) = await rows(ccari, Contact, Contact.medium == "voice")
    (vm,) = await rows(ccari, Contact, Contact.medium == "voicemail")
    assert (call.state, call.disposition) == ("completed", "voicemail-left")
    assert vm.state == "queued" and vm.caller_number == ADA[1:] and vm.customer_id is not None
    assert (message.call_contact_id, message.reason) == (call.id, "tenant-limit-reached")
    (refused,) = await rows(ccari, AdmissionDecision, AdmissionDecision.call_id == call.channel_id)
    assert not refused.admit and refused.reason == "tenant-limit-reached"
    assert await rows(ccari, TrunkCall) == []  # the treatment never counted against the limit
    assert ccari.ari is not None
    with pytest.raises(AriNotFound):  # saved by ccari, then deleted from Asterisk
        await ccari.ari.stored_recording_file(f"vm-{call.id}")

    # alice's page: ready, gets the offer, accepts, hears it; bob (another agent) can't.
    alice = await page_of(ccari, aiohttp_client, "alice")
    bob = await page_of(ccari, aiohttp_client, "bob")
    try:
        await alice.page.ws.send_json({"type": "presence", "presence": "ready"})
        offer = await eventually(alice.offer, what="the voicemail offered to alice")
        assert (offer["id"], offer["medium"]) == (vm.id, "voicemail")
        assert offer["customer"]["name"] == "Ada Lovelace"
        await alice.page.ws.send_json({"type": "accept", "contact_id": vm.id})

        async def connected() -> bool:
            return (await rows(ccari, Contact, Contact.id == vm.id))[0].state == "connected"

        await eventually(connected, what="the voicemail accepted")
        resp = await alice.page.http.get(f"/agent/voicemails/{vm.id}")
        assert resp.status == 200 and resp.content_type == "audio/wav"
        assert await resp.read() == message.audio
        resp = await bob.page.http.get(f"/agent/voicemails/{vm.id}")
        assert resp.status == 404 and (await resp.json())["error"] == "voicemail-not-found"
        await alice.page.ws.send_json({"type": "complete", "contact_id": vm.id, "disposition": "called-back"})

        async def done() -> bool:
            return (await rows(ccari, Contact, Contact.id == vm.id))[0].state == "completed"

        await eventually(done, what="the voicemail completed")
    finally:
        await alice.close()
        await bob.close()


@pytest.fixture
def callbacks_config(customer: Customer) -> dict[str, Any]:
    """A deferred callback's own retry only after 60 s: anything sooner is the wake-up on a
    free trunk."""
    return {**callbacks_pbx.callbacks_section(customer), "defer_s": 60.0}


async def test_over_the_limit_a_caller_who_presses_1_is_called_back_once_a_trunk_frees(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer
) -> None:
    await over_the_limit(cb, "callback")
    async with customer.phone(dtmf_after_ms=1000) as cust:
        # Ada calls while acme has no trunk for her: "press 1 to be called back"; she does.
        call = caller(voice_env, digits="1", dtmf_after_ms=1500, hangup_after_ms=0, caller=ADA[1:])
        await call.start()
        result = await call.wait()
        assert result.ok and result.requests.get("BYE") == 1, result.describe()
        row = await eventually(lambda: callback_in(cb, "pending"), 10, "the callback")
        assert (row.source, row.phone) == ("overflow", ADA)
        # Still no trunk for acme: the callback is deferred (an outbound call counts too)
        # and never reaches Asterisk.
        deferred = await eventually(
            lambda: rows(cb, AdmissionDecision, AdmissionDecision.direction == "outbound"), 20,
            "the callback's admission")
        assert [(d.admit, d.action) for d in deferred] == [(False, "defer")]
        assert customer.invites() == []
        # bob logs in: one trunk for acme; the callback dials Ada at once (not 60 s later),
        # she presses 1, bob answers.
        async with phone(voice_env, "bob", hangup_after_ms=1500) as bob_phone:
            await ready(cb, "bob")
            await eventually(lambda: completed(cb, row.id), 40, "the callback to be served")
        await cust.stop()
    assert customer.invites() == [f"cb-{row.id}-1"]
    assert (await bob_phone.result()).requests.get("INVITE") == 1
    (voice,) = await rows(cb, Contact, Contact.disposition == "callback-requested")
    assert voice.caller_number == ADA[1:]
    refused = await rows(cb, AdmissionDecision, AdmissionDecision.admit.is_(False))
    assert voice.channel_id in {d.call_id for d in refused}
    assert await rows(cb, TrunkCall) == []


async def test_a_callback_is_not_offered_to_a_number_the_tenant_does_not_call(
    cb: Runtime, voice_env: VoiceEnv
) -> None:
    await over_the_limit(cb, "callback")
    # A premium-rate caller ID (spoofed, say): no offer, the announcement then busy.
    result = await run_sipp("caller_admit.xml", voice_env.sip_target, service="15550100",
                            local_ip=CARRIER_IP, params={"caller": "19005550100"}, timeout_s=30)
    assert result.ok, result.describe()
    assert result.responses.get(183) == 1 and result.responses.get(486) == 1, result.describe()
    assert not result.responses.get(200)
    assert await rows(cb, Callback) == [] and await rows(cb, Contact) == []


async def test_a_caller_who_does_not_take_the_callback_offer_hears_the_lines_are_busy(
    cb: Runtime, voice_env: VoiceEnv
) -> None:
    await over_the_limit(cb, "callback")
    call = Sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
                params={"caller": ADA[1:], "digits": "999", "dtmf_after_ms": 1000,
                        "hangup_after_ms": 0},
                timeout_s=60, recv_timeout_ms=30000)
    await call.start()
    result = await call.wait()
    # Three wrong digits (the IVR's tries): "lines busy, call later", then hung up.
    assert result.ok and result.requests.get("BYE") == 1, result.describe()
    (voice,) = await rows(cb, Contact)
    assert (voice.state, voice.disposition) == ("completed", "callback-declined")
    assert await rows(cb, Callback) == []


def leaves_message(env: VoiceEnv, caller_number: str, talk_s: float, **params: object) -> Sipp:
    return Sipp("caller_voicemail.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                params={"caller": caller_number, "talk_ms": int(talk_s * 1000), **params},
                files={"message.ul": tone(talk_s)}, timeout_s=90, recv_timeout_ms=60000)


async def test_a_caller_who_hangs_up_instead_of_pressing_hash_leaves_the_message_too(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    await over_the_limit(ccari, "voicemail")
    # 5 is not the end key: the caller talks, presses 5, then simply hangs up.
    call = leaves_message(voice_env, "15551230002", 2.0, digits="5", bye_wait_ms=500)
    await call.start()
    result = await call.wait()
    assert result.ok and result.requests.get("BYE") is None, result.describe()
    (message,) = await eventually(lambda: rows(ccari, Voicemail), what="the voicemail")
    assert message.duration_s >= 2.0 and loud_seconds(message.audio) >= 1.5
    (call_contact,) = await rows(ccari, Contact, Contact.medium == "voice")
    assert call_contact.disposition == "voicemail-left"


async def test_kill_9_while_callers_record_loses_no_message(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess
) -> None:
    """One message ends while ccari is down (its end event is lost: the restarted ccari
    finds the stored recording), one after the restart (still recording when it comes back)."""
    engine = make_engine(voice_cfg.database.url)
    sessions = make_sessionmaker(engine)
    p = voice_cfg.pbx
    http = aiohttp.ClientSession()
    ari = AriRest(http, f"http://{p.host}:{p.ari_port}", p.ari_user, p.ari_password, p.app_name)
    try:
        async with sessions() as s:
            await s.execute(update(Tenant).where(Tenant.slug == "acme")
                            .values(after_hours_trunks=0, overflow_policy="voicemail"))
            await s.commit()

        async def calls() -> dict[str, Contact] | None:
            async with sessions() as s:
                found = list(await s.scalars(select(Contact).where(Contact.medium == "voice")))
            return {c.caller_number or "": c for c in found} if len(found) == 2 else None

        async def recording(contact: Contact) -> bool:
            with contextlib.suppress(AriNotFound):
                return (await ari.live_recording(f"vm-{contact.id}")).state == "recording"
            return False

        async def stored(contact: Contact) -> bool:
            with contextlib.suppress(AriNotFound):
                return bool(await ari.stored_recording_file(f"vm-{contact.id}"))
            return False

        await ccari_proc.start()
        short = leaves_message(voice_env, "15551230003", 3.0)
        long = leaves_message(voice_env, "15551230004", 20.0)
        await asyncio.gather(short.start(), long.start())
        both = await eventually(calls, what="both calls")
        first, second = both["15551230003"], both["15551230004"]
        await eventually(lambda: _all(recording(first), recording(second)), 30, "both recording")
        await ccari_proc.kill()
        # The short message ends while ccari is down: Asterisk keeps it, nobody hears of it.
        async def ended(contact: Contact) -> bool:
            return not await recording(contact) and await stored(contact)

        await eventually(lambda: ended(first), 30, "the short message to end")
        assert await recording(second)
        await ccari_proc.start()
        results = await asyncio.gather(short.wait(), long.wait())
        for result in results:  # each hung up by ccari after "saved"
            assert result.ok and result.requests.get("BYE") == 1, result.describe()

        async with sessions() as s:
            kept = {v.call_contact_id: v for v in await s.scalars(select(Voicemail))}
        assert set(kept) == {first.id, second.id}
        assert 3.0 <= kept[first.id].duration_s < 6.0
        assert 20.0 <= kept[second.id].duration_s < 24.0
        assert loud_seconds(kept[second.id].audio) >= 19.0  # nothing lost across the restart
        async with sessions() as s:
            ended = list(await s.scalars(select(Contact).where(Contact.medium == "voice")))
            queued = list(await s.scalars(select(Contact).where(
                Contact.medium == "voicemail", Contact.state == "queued")))
        assert {c.disposition for c in ended} == {"voicemail-left"} and len(queued) == 2
        for contact in (first, second):  # and Asterisk's copies are gone
            assert not await stored(contact)
    finally:
        await http.close()
        await engine.dispose()


async def _all(*checks: Any) -> bool:
    return all(await asyncio.gather(*checks))
