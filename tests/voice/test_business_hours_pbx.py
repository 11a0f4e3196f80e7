"""Business hours on the real Asterisk: the same number, its hours set through the provisioning
API, sends a call inside them to its IVR, queue and agent, and a call outside them to its
after-hours route ("we are closed", then ccari hangs up), the contact saying so.  The time is
the voice service's clock, moved to a Monday morning and to a Sunday in Paris."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.admission.models import AdmissionDecision, TrunkCall
from ccari.app import Runtime, internal_app
from ccari.storage.models import Contact, Queue
from ccari.voicemail.models import Voicemail
from tests.support.sipp import run_sipp
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.test_callbacks_pbx import rows
from tests.voice.test_overflow_pbx import tone
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}
DID = "15550100"  # acme's number: the IVR "main", then the queue
OFFICE = {"time_zone": "Europe/Paris",
          "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"}]}
MONDAY_10 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
SUNDAY_10 = MONDAY_10 - dt.timedelta(days=1)
ANNOUNCEMENT_S = 4.1  # sounds/closed.wav


def at(ccari: Runtime, monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> None:
    """The voice service's clock reads ``when`` now, and runs on from there."""
    offset = when.timestamp() - time.time()
    monkeypatch.setattr(ccari.voice, "_clock", lambda: time.time() + offset)


async def call_of(ccari: Runtime, number: str, *states: str) -> Contact | None:
    async with ccari.sessions() as s:
        row = await s.scalar(select(Contact).where(Contact.caller_number == number))
    return row if row is not None and row.state in states else None


async def decision_for(ccari: Runtime, channel_id: str | None) -> AdmissionDecision:
    async with ccari.sessions() as s:
        row = await s.scalar(select(AdmissionDecision).where(AdmissionDecision.call_id == channel_id))
    assert row is not None
    return row


async def test_inside_its_hours_a_call_reaches_the_queue_outside_them_the_closed_announcement(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    client: TestClient = await aiohttp_client(internal_app(ccari))
    number = await (await client.get(f"/api/tenants/acme/numbers/{DID}", headers=ADMIN)).json()
    resp = await client.put(f"/api/tenants/acme/numbers/{DID}", headers=ADMIN, json={
        "queue": number["queue"], "menu": number["menu"], "hours": OFFICE,
        "after_hours": {"action": "announcement"}})
    assert resp.status == 200, await resp.json()
    agents = await ready(ccari, "alice")

    async with phone(voice_env, "alice") as alice:
        # Monday 10:00 in Paris: open.  The IVR, the queue, alice.
        at(ccari, monkeypatch, MONDAY_10)
        inside = caller(voice_env, DID, digits="1", dtmf_after_ms=800, hangup_after_ms=5000,
                        caller="15550191")
        await inside.start()
        result = await inside.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: call_of(ccari, "15550191", "completed"),
                                what="the call inside hours completed")
        assert done.agent_id == agents["alice"].id and done.disposition == "caller-hangup"
        assert "after_hours" not in done.meta

        # Sunday 10:00 in Paris: closed.  Answered, "we are closed", hung up by ccari.
        at(ccari, monkeypatch, SUNDAY_10)
        outside = caller(voice_env, DID, digits="1", dtmf_after_ms=800, hangup_after_ms=0,
                         caller="15550192")
        started = time.monotonic()
        await outside.start()
        result = await outside.wait()
        heard_s = time.monotonic() - started
        assert result.ok, result.describe()
        assert result.requests.get("BYE") == 1, result.describe()  # ccari hung up
        assert ANNOUNCEMENT_S <= heard_s < ANNOUNCEMENT_S + 5
        closed = await eventually(lambda: call_of(ccari, "15550192", "completed"),
                                  what="the call outside hours completed")
    assert (await alice.result()).requests.get("INVITE") == 1  # the first call only
    assert closed.disposition == "after-hours" and closed.agent_id is None
    assert closed.queued_at is None  # never in the queue
    assert closed.meta["after_hours"] == "announcement"
    assert closed.arrived_at.astimezone(dt.UTC).date() == SUNDAY_10.date()

    # Trunk admission: T (acme's 3 after-hours trunks) counted outside the hours only.
    open_, shut = (await decision_for(ccari, done.channel_id),
                   await decision_for(ccari, closed.channel_id))
    assert (open_.inputs["hours"], open_.inputs["T"], open_.inputs["A"]) == ("open", 0, 1)
    assert open_.permitted == 1  # max(floor(1 * 1.5), 1 + 0)
    a = shut.inputs["A"]  # alice may still be in wrap-up
    assert (shut.inputs["hours"], shut.inputs["T"], shut.permitted) == ("closed", 3, a + 3)


async def put(client: TestClient, path: str, body: object) -> None:
    resp = await client.put(f"/api/tenants/acme{path}", headers=ADMIN, json=body)
    assert resp.status == 200, await resp.json()


async def test_outside_the_tenant_s_hours_the_caller_leaves_a_voicemail_for_the_morning(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The number has no hours of its own: its tenant's apply."""
    client: TestClient = await aiohttp_client(internal_app(ccari))
    await put(client, "/hours", OFFICE)
    await put(client, f"/numbers/{DID}", {"menu": "main", "after_hours": {"action": "voicemail"}})
    at(ccari, monkeypatch, SUNDAY_10)
    result = await run_sipp(
        "caller_voicemail.xml", voice_env.sip_target, service=DID, local_ip=CARRIER_IP,
        params={"caller": "15550193", "talk_after_ms": 8000, "talk_ms": 1500},
        files={"message.ul": tone(1.5)}, timeout_s=60, recv_timeout_ms=30000)
    # Answered, the closed prompt (7 s), the beep, the message, "saved", hung up by ccari.
    assert result.ok and result.requests.get("BYE") == 1, result.describe()
    (message,) = await eventually(lambda: rows(ccari, Voicemail), what="the voicemail")
    (call,) = await rows(ccari, Contact, Contact.medium == "voice")
    (vm,) = await rows(ccari, Contact, Contact.medium == "voicemail")
    assert (call.state, call.disposition) == ("completed", "voicemail-left")
    assert call.meta["after_hours"] == "voicemail" and call.queued_at is None
    assert (message.call_contact_id, message.reason) == (call.id, "after-hours")
    assert vm.state == "queued" and vm.queue_id == call.queue_id and vm.caller_number == "15550193"
    decision = await decision_for(ccari, call.channel_id)
    assert decision.admit and decision.inputs["hours"] == "closed"
    await eventually(lambda: trunks_free(ccari), what="the call's trunk released")


async def trunks_free(ccari: Runtime) -> bool:
    return await rows(ccari, TrunkCall) == []


async def answered_in_the_night_queue(ccari: Runtime, voice_env: VoiceEnv,
                                      monkeypatch: pytest.MonkeyPatch, number: str,
                                      hangup_after_ms: int) -> Contact:
    """A Sunday call from ``number`` (its digit too late for any menu) rings alice once from
    the night queue, without the IVR; its contact, completed."""
    agents = await ready(ccari, "alice")
    at(ccari, monkeypatch, SUNDAY_10)
    async with phone(voice_env, "alice") as alice:
        call = caller(voice_env, DID, digits="9", dtmf_after_ms=3000,
                      hangup_after_ms=hangup_after_ms, caller=number)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done: Contact = await eventually(lambda: call_of(ccari, number, "completed"),
                                         what="the call completed")
    assert (await alice.result()).requests.get("INVITE") == 1
    (night,) = await rows(ccari, Queue, Queue.name == "night")
    assert done.queue_id == night.id and done.agent_id == agents["alice"].id
    assert done.meta["after_hours"] == "queue" and "ivr" not in done.meta
    return done


async def test_outside_its_hours_a_number_can_send_calls_to_another_queue_without_its_ivr(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    client: TestClient = await aiohttp_client(internal_app(ccari))
    await put(client, "/queues/night", {"ring_timeout_s": 10})
    await put(client, f"/numbers/{DID}", {"menu": "main", "hours": OFFICE,
                                          "after_hours": {"action": "queue", "queue": "night"}})
    # No digit: the number's IVR would wait for one; the night queue does not.
    done = await answered_in_the_night_queue(ccari, voice_env, monkeypatch, "15550194", 3000)
    assert done.connected_at is not None and done.connected_at - done.arrived_at < dt.timedelta(
        seconds=3)  # rung at once: no menu first


async def test_a_number_without_a_route_of_its_own_takes_its_tenant_s_after_hours_route(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The tenant's hours and the tenant's route (the night queue); the number has neither."""
    client: TestClient = await aiohttp_client(internal_app(ccari))
    await put(client, "/queues/night", {"ring_timeout_s": 10})
    await put(client, "/hours", OFFICE)
    await put(client, "/after-hours", {"action": "queue", "queue": "night"})
    number = await (await client.get(f"/api/tenants/acme/numbers/{DID}", headers=ADMIN)).json()
    assert "after_hours" not in number and "hours" not in number
    await answered_in_the_night_queue(ccari, voice_env, monkeypatch, "15550197", 2000)


async def test_on_a_recurring_holiday_a_call_in_the_weekly_hours_takes_the_after_hours_route(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Monday 7 December 2026 10:00 in Paris is inside the weekly hours, and the first Monday
    of December: the tenant's rule closes it, as a dated holiday would."""
    client: TestClient = await aiohttp_client(internal_app(ccari))
    await put(client, "/hours", {**OFFICE, "recurring": [
        {"rule": "FREQ=YEARLY;BYMONTH=12;BYDAY=1MO", "name": "founders' day"}]})
    hours = await (await client.get("/api/tenants/acme/hours", headers=ADMIN)).json()
    assert hours["hours"]["recurring"] == [{"rule": "FREQ=YEARLY;BYMONTH=12;BYDAY=1MO",
                                            "name": "founders' day"}]
    await put(client, f"/numbers/{DID}", {"menu": "main", "after_hours": {"action": "announcement"}})
    await ready(ccari, "alice")
    at(ccari, monkeypatch, MONDAY_10)
    async with phone(voice_env, "alice") as alice:
        call = caller(voice_env, DID, digits="1", dtmf_after_ms=800, hangup_after_ms=0,
                      caller="15550195")
        await call.start()
        result = await call.wait()
        assert result.ok and result.requests.get("BYE") == 1, result.describe()  # ccari hung up
        closed = await eventually(lambda: call_of(ccari, "15550195", "completed"),
                                  what="the call on the holiday completed")
    assert not (await alice.result()).requests.get("INVITE")  # alice never rang
    assert closed.disposition == "after-hours" and closed.meta["after_hours"] == "announcement"
    assert closed.queued_at is None and closed.agent_id is None
    assert (await decision_for(ccari, closed.channel_id)).inputs["hours"] == "closed"
