"""Supervision of live calls on the real Asterisk: SIPp signals the caller, the agent's phone
and the supervisor's phone (a UAS ccari dials); each leg's media is the test's own socket,
which sends the leg's own tone and keeps what it receives: the tones in what each leg
receives say who hears whom in each mode."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.contacts import repo
from ccari.storage.models import Agent, Contact
from ccari.supervisor.http import SUPERVISION
from ccari.voice.monitoring import LAYOUTS, Mode
from tests.support.agent_web import AgentPage, open_agent_page
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import (
    EXPECTED,
    closed,
    connected_call,
    pairs,
    settled,
    speak,
    three_legs,
)
from tests.voice.test_call_controls_pbx import page_of, rest, served  # noqa: F401 - fixture
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


class Supervisor:
    def __init__(self, page: AgentPage) -> None:
        self.page = page
        self._csrf = ""

    async def csrf(self) -> str:
        if not self._csrf:
            html = await (await self.page.http.get("/agent")).text()
            match = re.search(r'name="csrf" value="([^"]+)"', html)
            assert match
            self._csrf = match.group(1)
        return self._csrf

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.page.http.request(method, path, json=body,
                                            headers={"X-CSRF-Token": await self.csrf()})
        return resp.status, await resp.json()

    async def monitor(self, contact_id: str, mode: str) -> tuple[int, Any]:
        return await self.call("POST", f"/supervisor/api/calls/{contact_id}/monitor",
                               {"mode": mode})

    async def calls(self) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/supervisor/api/calls")
        assert status == 200, body
        return list(body["calls"])


@pytest.fixture
async def sam(served: tuple[str, dict[str, Any]]) -> AsyncIterator[Supervisor]:  # noqa: F811
    page = await page_of(served, "sam")
    try:
        yield Supervisor(page)
    finally:
        await page.close()


async def session_of(sam: Supervisor, contact_id: str) -> dict[str, Any] | None:
    call = next((c for c in await sam.calls() if c["id"] == contact_id), None)
    monitors = call.get("monitors", []) if call else []
    return monitors[0] if monitors and monitors[0]["state"] == "connected" else None


async def next_of(page: AgentPage, kind: str) -> dict[str, Any]:
    while True:
        msg = await page.ws.receive_json(timeout=10)
        if msg.get("type") == kind:
            return msg


async def test_listen_whisper_barge_in_one_session_then_the_call_goes_on(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    sam: Supervisor,
) -> None:
    assert ccari.ari is not None
    ari = ccari.ari
    agents = await ready(ccari, "alice")
    alice_page = await page_of(served, "alice")
    legs = await three_legs(voice_env)
    call, sam_phone = legs["customer"].sipp, legs["supervisor"].sipp
    try:
        async with legs["agent"].sipp, sam_phone:
            live = await connected_call(ccari, voice_env, legs)
            cid = live.id
            assert live.agent_channel_id and live.channel_id and live.bridge_id

            # The live list: who, which skill, which agent, how long, the state.
            [row] = await sam.calls()
            assert row["id"] == cid and row["state"] == "connected"
            assert row["from"] == "15550199" and row["attributes"]["skill"] == "sales"
            assert row["agent"] == {"id": agents["alice"].id, "name": "Alice Sales"}
            assert row["in_state_s"] >= 0 and row["monitors"] == [] and not row["muted"]

            # Not a supervisor, bad input, no such call: 4xx with their ids.
            resp = await alice_page.http.post(f"/supervisor/api/calls/{cid}/monitor",
                                              json={"mode": "listen"})
            assert (resp.status, (await resp.json())["error"]) == (403, "supervisors-only")
            assert (await sam.monitor(cid, "spy"))[1]["error"] == "bad-mode"
            status, body = await sam.monitor("nope", "listen")
            assert (status, body["error"]) == (404, "call-not-found")

            status, body = await sam.monitor(cid, "listen")
            assert status == 200 and body["mode"] == "listen", body
            session = await eventually(lambda: session_of(sam, cid), what="sam's phone answered")
            sup_leg = f"sup-{session['session']}"

            # Up to barge and back down to listen, her phone's one leg moved, never dialled
            # again.
            for n, mode in enumerate(("listen", "whisper", "barge", "whisper", "listen")):
                if n:
                    status, body = await sam.monitor(cid, mode)
                    assert status == 200 and body["mode"] == mode, body
                    assert body["session"] == session["session"]
                    told = await next_of(alice_page, "monitored")
                    assert told == {"type": "monitored", "contact_id": cid,
                                    "supervisor": "Sam Supervisor",
                                    "mode": mode if LAYOUTS[Mode(mode)].seen_by_agent else None}
                call_bridge = set((await ari.get_bridge(live.bridge_id)).channels)
                if mode == "barge":
                    assert call_bridge == {live.channel_id, live.agent_channel_id, sup_leg}
                else:
                    assert {live.channel_id, live.agent_channel_id} <= call_bridge

                    async def snooping() -> bool:
                        mon = await ari.get_bridge(f"mon-{session['session']}")
                        return (len(mon.channels) == 2 and sup_leg in mon.channels
                                and all(c.startswith("snoop-") or c == sup_leg
                                        for c in mon.channels))

                    await eventually(snooping, what=f"sam's phone and a snoop ({mode})")
                heard = await settled(legs, EXPECTED[mode])
                tech = (await ari.get_bridge(live.bridge_id)).technology
                assert heard == EXPECTED[mode], (mode, tech, heard)

            # Ending the session leaves the call up, with nothing of the session left.
            status, body = await sam.call("DELETE", f"/supervisor/api/calls/{cid}/monitor")
            assert (status, body["state"]) == (200, "stopped")

            async def session_gone() -> bool:
                channels = {c.id for c in await ari.list_channels()}
                bridges = {b.id for b in await ari.list_bridges()}
                return (channels == {live.channel_id, live.agent_channel_id}
                        and bridges == {live.bridge_id})

            await eventually(session_gone, what="no supervisor leg, snoop or session bridge")
            assert set((await ari.get_bridge(live.bridge_id)).channels) == \
                {live.channel_id, live.agent_channel_id}
            both = pairs("customer<agent", "agent<customer")
            assert await settled(legs, both) == both
            status, body = await sam.call("DELETE", f"/supervisor/api/calls/{cid}/monitor")
            assert (status, body["error"]) == (404, "not-monitoring")

            # Again, straight into barge; the caller hanging up ends every leg.
            assert (await sam.monitor(cid, "barge"))[0] == 200
            await eventually(lambda: session_of(sam, cid), what="sam's phone answered again")
            await ari.hangup(live.channel_id)
            await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
            assert (await call.wait()).requests.get("BYE") == 1
        sam_result = await sam_phone.result()
        assert sam_result.requests.get("BYE") == 2, sam_result.describe()
        assert sam_result.requests.get("INVITE") == 2, sam_result.describe()  # two sessions
    finally:
        await alice_page.close()
        await closed(legs)
    async with ccari.sessions() as s:
        events = await repo.events(s, live.tenant_id, cid)
        sam_id = await s.scalar(select(Agent.id).where(Agent.username == "sam"))
    log = [(e.kind, e.data.get("mode"), e.data.get("reason")) for e in events
           if e.kind.startswith("monitor-")]
    assert log == [("monitor-started", "listen", None), ("monitor-mode", "whisper", None),
                   ("monitor-mode", "barge", None), ("monitor-mode", "whisper", None),
                   ("monitor-mode", "listen", None), ("monitor-stopped", None, "stopped"),
                   ("monitor-started", "barge", None), ("monitor-stopped", None, "call-ended")]
    assert all(e.data["supervisor_id"] == sam_id for e in events if e.kind.startswith("monitor-"))


async def test_a_supervisor_of_another_tenant_sees_and_monitors_nothing(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    await ready(ccari, "alice")
    async with ccari.sessions() as s:  # carol (globex) made a supervisor
        carol = await s.scalar(select(Agent).where(Agent.username == "carol"))
        assert carol is not None
        carol.role = "supervisor"
        await s.commit()
    base, secrets = served
    page = await open_agent_page(base, "globex", "carol", secrets["globex.carol.web"])
    other = Supervisor(page)
    try:
        async with phone(voice_env, "alice"):
            call = caller(voice_env, digits="1", hangup_after_ms=0)
            await call.start()
            live: Contact = await eventually(lambda: one_contact_in(ccari, "connected"),
                                             what="connected")
            assert await other.calls() == []
            status, body = await other.monitor(live.id, "listen")
            assert (status, body["error"]) == (404, "call-not-found")
            # Another tenant's call is not found, whatever is asked of it.
            status, body = await other.call("DELETE", f"/supervisor/api/calls/{live.id}/monitor")
            assert (status, body["error"]) == (404, "call-not-found")
            assert ccari.ari is not None
            await ccari.ari.hangup(live.channel_id or "")
            await call.wait()
    finally:
        await page.close()


async def test_take_over_leaves_the_supervisor_with_the_customer(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    sam: Supervisor,
) -> None:
    assert ccari.ari is not None
    agents = await ready(ccari, "alice")
    alice_page = await page_of(served, "alice")
    legs = await three_legs(voice_env)
    try:
        async with legs["agent"].sipp as alice_phone, legs["supervisor"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            assert live.channel_id and live.bridge_id
            assert (await sam.monitor(live.id, "take_over"))[0] == 200
            session = await eventually(lambda: session_of(sam, live.id), what="sam answered")
            sup_leg = f"sup-{session['session']}"
            told = await next_of(alice_page, "taken-over")
            assert told == {"type": "taken-over", "contact_id": live.id,
                            "supervisor": "Sam Supervisor"}

            async def agent_gone() -> bool:
                return set((await ccari.ari.get_bridge(live.bridge_id)).channels) == \
                    {live.channel_id, sup_leg}

            await eventually(agent_gone, what="the agent's leg out, sam's in")
            assert await settled(legs, EXPECTED["take_over"]) == EXPECTED["take_over"]
            assert ccari.queue.agent_state(agents["alice"].id) == "ready"  # free at once
            [row] = await sam.calls()
            assert row["taken_over_by"] == session["supervisor"]["id"]
            status, body = await sam.monitor(live.id, "listen")
            assert (status, body["error"]) == (409, "call-taken-over")
            # Her ending the session is her hanging up: the call ends.
            assert (await sam.call("DELETE", f"/supervisor/api/calls/{live.id}/monitor"))[0] == 200
            done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
            assert (await legs["customer"].sipp.wait()).requests.get("BYE") == 1
        assert (await alice_phone.result()).requests.get("BYE") == 1
    finally:
        await alice_page.close()
        await closed(legs)
    assert done.agent_id == agents["alice"].id and done.disposition == "supervisor-hangup"
    async with ccari.sessions() as s:
        kinds = [e.kind for e in await repo.events(s, live.tenant_id, live.id)]
    assert kinds.index("monitor-started") < kinds.index("taken-over") \
        < kinds.index("monitor-stopped") < kinds.index("completed")


@pytest.mark.parametrize("fill", [True, False])
async def test_a_whisper_to_an_agent_whose_caller_is_on_hold(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    sam: Supervisor, monkeypatch: pytest.MonkeyPatch, fill: bool,
) -> None:
    """Nothing else reaches the agent while her caller is on hold: Asterisk 22.10.1 mixes a
    whisper into no audio at all (asterisk issue 1966, fixed in 22.11), unless ccari plays
    silence into the call's bridge while whispering (``fill``; off: what Asterisk does)."""
    assert ccari.ari is not None
    if not fill:
        monkeypatch.setitem(LAYOUTS, Mode.WHISPER, replace(LAYOUTS[Mode.WHISPER], fill=False))
    version = tuple(int(p) for p in (await ccari.ari.info()).version.split(".")[:2]
                    if p.isdigit())
    await ready(ccari, "alice")
    alice_page = await page_of(served, "alice")
    legs = await three_legs(voice_env)
    try:
        async with legs["agent"].sipp, legs["supervisor"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            assert (await rest(alice_page, live.id, "hold"))[0] == 200
            assert (await sam.monitor(live.id, "whisper"))[0] == 200
            session = await eventually(lambda: session_of(sam, live.id), what="sam answered")
            sup_leg = f"sup-{session['session']}"
            await speak(ccari, legs["supervisor"], sup_leg)
            before = (await ccari.ari.rtp_statistics(sup_leg))["rxcount"]
            # Once the snoop is up, the supervisor hears her agent in both cases; then
            # whether the agent hears her is what this test is about.
            heard = await settled(legs, ok=lambda h: h[("supervisor", "agent")]
                                  and (h[("agent", "supervisor")] or not fill), within=5.0)
            # Asterisk got what she said (at 50 packets a second): the agent hears it or not.
            assert (await ccari.ari.rtp_statistics(sup_leg))["rxcount"] - before >= 25
            assert heard[("agent", "supervisor")] == (fill or version >= (22, 11)), version
            assert not heard[("customer", "supervisor")]
            if fill:  # without it, what the snoop hears of a quiet agent comes and goes
                assert heard[("supervisor", "agent")]
            await ccari.ari.hangup(live.channel_id or "")
            await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
    finally:
        await alice_page.close()
        await closed(legs)


async def test_the_supervisor_hanging_up_ends_only_her_session(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    sam: Supervisor,
) -> None:
    assert ccari.ari is not None
    ari = ccari.ari
    await ready(ccari, "alice")
    legs = await three_legs(voice_env)
    legs["supervisor"].sipp.params = {**legs["supervisor"].sipp.params, "hangup_after_ms": 1500}
    try:
        async with legs["agent"].sipp, legs["supervisor"].sipp as sam_phone:
            live = await connected_call(ccari, voice_env, legs)
            assert live.channel_id and live.agent_channel_id and live.bridge_id
            assert (await sam.monitor(live.id, "listen"))[0] == 200

            async def session_over() -> bool:
                [row] = await sam.calls()
                return row["monitors"] == [] and not any(
                    c.id.startswith(("sup-", "snoop-")) for c in await ari.list_channels())

            await eventually(session_over, what="sam's session over after she hung up")
            assert {b.id for b in await ari.list_bridges()} == {live.bridge_id}
            assert set((await ari.get_bridge(live.bridge_id)).channels) == \
                {live.channel_id, live.agent_channel_id}
            assert await one_contact_in(ccari, "connected") is not None
            await ari.hangup(live.channel_id)
            await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
        assert (await sam_phone.result()).requests.get("INVITE") == 1
    finally:
        await closed(legs)
    async with ccari.sessions() as s:
        events = await repo.events(s, live.tenant_id, live.id)
    assert [(e.kind, e.data.get("reason")) for e in events if e.kind.startswith("monitor-")] \
        == [("monitor-started", None), ("monitor-stopped", "supervisor-hangup")]


async def test_reconcile_hangs_up_what_no_session_of_this_process_owns(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
) -> None:
    """What a previous process left (its supervisor's phone, its session bridge) goes."""
    assert ccari.ari is not None
    ari = ccari.ari
    supervision = internal_app(ccari)[SUPERVISION]
    async with phone(voice_env, "sam", answer_after_ms=10000):  # still ringing meanwhile
        await ari.create_bridge("mon-0ld5e55i0n", type="mixing")
        await ari.originate("PJSIP/acme-sam", channel_id="sup-0ld5e55i0n",
                            app_args=("supervisor", "0ld5e55i0n"))
        assert [c.id for c in await ari.list_channels()] == ["sup-0ld5e55i0n"]
        await supervision.reconcile()

        async def gone() -> bool:
            return not await ari.list_channels() and not await ari.list_bridges()

        await eventually(gone, what="the unknown supervisor leg and session bridge gone")


async def test_listening_to_an_agent_whose_caller_is_on_hold(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]],  # noqa: F811
    sam: Supervisor,
) -> None:
    """The snoop hears the agent though nothing reaches her (her caller hears the music)."""
    assert ccari.ari is not None
    await ready(ccari, "alice")
    alice_page = await page_of(served, "alice")
    legs = await three_legs(voice_env)
    try:
        async with legs["agent"].sipp, legs["supervisor"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            assert (await rest(alice_page, live.id, "hold"))[0] == 200
            assert (await sam.monitor(live.id, "listen"))[0] == 200
            session = await eventually(lambda: session_of(sam, live.id), what="sam answered")
            await speak(ccari, legs["supervisor"], f"sup-{session['session']}")
            heard = await settled(legs, ok=lambda h: h[("supervisor", "agent")])
            assert heard[("supervisor", "agent")] and not heard[("agent", "supervisor")], heard
            assert not heard[("supervisor", "customer")] and not heard[("customer", "agent")]
            await ccari.ari.hangup(live.channel_id or "")
            await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
    finally:
        await alice_page.close()
        await closed(legs)
