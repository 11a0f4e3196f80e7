"""The interval report on the real Asterisk: two SIPp callers give up in the queue after set
times, a third is answered by alice's SIPp phone after a set ring, held and resumed from her
page, hung up by her phone after a set talk, and wrapped up with a disposition.  Every
figure of the report is checked against the event log's own timestamps (exact to the
report's 0.1 s) and against the times the SIPp scenarios set (within the PBX's latency)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ccari.app import Runtime
from ccari.contacts import repo
from ccari.storage.models import Contact
from tests.support.agent_web import AgentPage
from tests.support.browser import agent_login, chromium
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_call_controls_pbx import (  # noqa: F401 - fixture
    command,
    page_of,
    rest,
    served,
    set_wrap_up,
)
from tests.voice.test_voice_pbx import _state_of, caller, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
LATENCY_S = 0.6  # what the PBX and SIPp add to a set time, at most


async def event_times(rt: Runtime, caller_number: str) -> dict[str, float]:
    """The first time of each kind in the contact's event log."""
    async with rt.sessions() as s:
        from sqlalchemy import select

        row = await s.scalar(select(Contact).where(Contact.caller_number == caller_number))
        assert row is not None
        events = await repo.events(s, row.tenant_id, row.id)
    out: dict[str, float] = {}
    for e in events:
        out.setdefault(e.kind, e.at.timestamp())
    return out


async def report(sam: AgentPage, start: dt.datetime, by: str) -> list[dict[str, Any]]:
    resp = await sam.http.get("/supervisor/api/reports", params={
        "from": start.isoformat(), "to": (start + dt.timedelta(hours=2)).isoformat(),
        "interval": "hour", "by": by})
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["rows"])


def summed(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """A key's rows added up (the calls may straddle an hour)."""
    mine = [r for r in rows if r["key"] == key]
    assert mine, key
    out: dict[str, Any] = {k: sum(r[k] for r in mine) for k in (
        "offered", "answered", "abandoned", "handled", "talk_s", "hold_s", "wrap_s", "transfers")}
    out["abandon_waits_s"] = sorted(w for r in mine for w in r["abandon_waits_s"])
    out["service_level"] = [r["service_level"] for r in mine if r["service_level"] is not None]
    out["asa_s"] = [r["asa_s"] for r in mine if r["asa_s"] is not None]
    out["states_s"] = {s: sum(r.get("states_s", {}).get(s) or 0 for r in mine)
                       for s in ("ready", "reserved", "busy", "wrap_up")}
    return out


async def test_the_report_of_abandoned_and_answered_calls_to_the_second(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    await set_wrap_up(ccari, 120)  # only the disposition ends alice's wrap-up
    sam = await page_of(served, "sam")
    alice_page = await page_of(served, "alice")
    try:
        # Nobody is ready: two callers give up in the queue, after 3 s and after 1.5 s.
        first = caller(voice_env, digits="1", hangup_after_ms=3000, caller="15551120001")
        second = caller(voice_env, digits="1", hangup_after_ms=1500, caller="15551120002")
        await first.start()
        await second.start()
        assert (await first.wait()).ok and (await second.wait()).ok
        for number in ("15551120001", "15551120002"):
            await eventually(lambda n=number: _state_of(ccari, n, "abandoned"), what="abandoned")

        # alice answers after a 1 s ring; her phone hangs up 3 s later.
        agents = await ready(ccari, "alice")
        async with phone(voice_env, "alice", answer_after_ms=1000, hangup_after_ms=3000):
            third = caller(voice_env, digits="1", hangup_after_ms=0, caller="15551120003")
            await third.start()
            live = await eventually(lambda: _state_of(ccari, "15551120003", "connected"),
                                    what="connected")
            assert await rest(alice_page, live.id, "hold") == (
                200, {"type": "held", "contact_id": live.id})
            assert await rest(alice_page, live.id, "resume") == (
                200, {"type": "resumed", "contact_id": live.id})
            await eventually(lambda: _state_of(ccari, "15551120003", "completed"),
                             what="completed")
            assert (await third.wait()).ok
        wrapped = await command(alice_page, {"type": "call.wrap_up", "contact_id": live.id,
                                             "disposition": "resolved"}, "wrapped-up")
        assert wrapped["disposition"] == "resolved"

        # What the event log says happened, and when.
        a, b, c = [await event_times(ccari, n)
                   for n in ("15551120001", "15551120002", "15551120003")]
        waits = sorted([a["abandoned"] - a["queued"], b["abandoned"] - b["queued"]])
        asa = c["connected"] - c["queued"]
        hold = c["resumed"] - c["held"]
        talk = c["completed"] - c["connected"] - hold
        wrap = c["wrap-up"] - c["completed"]
        # ... which is what SIPp was told to do.
        # (the callers hang up 1.5 s and 3 s after pressing 1; the IVR takes the digit
        # before the call joins the queue, the same for both)
        assert waits[1] - waits[0] == pytest.approx(1.5, abs=LATENCY_S)
        assert 0 < waits[0] < 1.5 and waits[1] < 3.0
        assert asa == pytest.approx(1.0, abs=LATENCY_S)
        assert talk + hold == pytest.approx(3.0, abs=LATENCY_S)

        sales = summed(await report(sam, start, "skill"), "sales")
        assert (sales["offered"], sales["answered"], sales["abandoned"]) == (3, 1, 2)
        assert sales["abandon_waits_s"] == pytest.approx(waits, abs=0.051)
        assert sales["asa_s"] == [pytest.approx(asa, abs=0.051)]
        assert sales["service_level"] == [33.3]  # 1 s within 20 s; two gave up
        assert sales["handled"] == 1 and sales["transfers"] == 0
        assert sales["talk_s"] == pytest.approx(talk, abs=0.051)
        assert sales["hold_s"] == pytest.approx(hold, abs=0.051)
        assert sales["wrap_s"] == pytest.approx(wrap, abs=0.051)
        voice = summed(await report(sam, start, "medium"), "voice")
        assert (voice["offered"], voice["answered"], voice["abandoned"]) == (3, 1, 2)

        alice = summed(await report(sam, start, "agent"), str(agents["alice"].id))
        assert (alice["answered"], alice["handled"]) == (1, 1)
        assert alice["talk_s"] == pytest.approx(talk, abs=0.051)
        assert alice["wrap_s"] == pytest.approx(wrap, abs=0.051)
        # her states, from the router's log (noted as each decision is saved, so within a
        # commit of the events): rung (reserved), busy for the call, in wrap-up until the
        # disposition
        states = alice["states_s"]
        assert states["reserved"] == pytest.approx(c["connected"] - c["offered"], abs=0.5)
        assert states["busy"] == pytest.approx(c["completed"] - c["connected"], abs=0.5)
        assert states["wrap_up"] == pytest.approx(wrap, abs=0.5)
        assert states["ready"] > 0

        # The same figures on the reports page, in Chromium.
        base, secrets = served
        async with chromium() as browser:
            page = await agent_login(await browser.new_page(), base, "sam",
                                     secrets["acme.sam.web"], ready=False)
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto(f"{base}/supervisor/reports?interval=day")
            await page.wait_for_selector("#chart[data-drawn='2'] canvas")
            row = "#report tr[data-key=sales]"
            shown = {cell: (await page.text_content(f"{row} .{cell}") or "").strip()
                     for cell in ("offered", "answered", "abandoned", "sl", "abandon-waits")}
            assert shown == {"offered": "3", "answered": "1", "abandoned": "2", "sl": "33.3 %",
                             "abandon-waits": ", ".join(str(round(w, 1)) for w in waits)}
            assert problems == []
    finally:
        await sam.close()
        await alice_page.close()
