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

from ccari.app import Runtime, internal_app
from ccari.storage.models import AdmissionDecision, Contact
from tests.voice.conftest import VoiceEnv, eventually
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
