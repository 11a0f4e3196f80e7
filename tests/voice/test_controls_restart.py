"""Kill -9 ccari while the agent consults a colleague (the caller held with the music), or
while she holds a conference: Asterisk keeps the legs and the bridges; the restarted ccari
rebuilds the consult, or the conference's parties (muted or not), from the contact's log
and Asterisk, so the agent can still complete or cancel the consult, or unmute and remove a
party; a conference she left goes on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari.rest import AriRest
from ccari.config import Config
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent, Contact, ContactEvent, Queue
from tests.support.agent_web import AgentPage, open_agent_page
from tests.voice.calls import rest, table
from tests.voice.conftest import PHONE_IP, VoiceEnv, eventually
from tests.voice.media import EXPECTED, FREQS, HEARD, Leg, closed, leg, settled, three_legs
from tests.voice.test_hold_restart import _ended, _true, connected, speak
from tests.voice.test_restart import CcariProcess, ccari_proc
from tests.voice.test_supervision_pbx import Supervisor, session_of
from tests.voice.test_voice_pbx import phone

pytestmark = pytest.mark.pbx
__all__ = ["ccari_proc"]


async def page_of(proc: CcariProcess, env: VoiceEnv, user: str) -> AgentPage:
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    return await open_agent_page(f"http://127.0.0.1:{proc.port}", "acme", user,
                                 secrets[f"acme.{user}.web"])


@dataclass
class OnACall:
    """ccari running, alice and bob ready on their pages, the caller connected to alice."""
    sessions: async_sessionmaker[AsyncSession]
    legs: dict[str, Leg]  # customer, agent (alice's phone), colleague (bob's phone)
    ari: AriRest  # REST only: the app's events stay ccari's
    pages: list[AgentPage]  # closed on the way out (add the ones opened after a restart)
    alice: AgentPage
    bob: AgentPage
    live: Contact


async def _wrap_up(sessions: async_sessionmaker[AsyncSession], seconds: float) -> float:
    """Every queue's wrap-up set to ``seconds``; what the first one had before."""
    async with sessions() as s:
        queues = list(await s.scalars(select(Queue).order_by(Queue.id)))
        before = queues[0].wrap_up_s
        for q in queues:
            q.wrap_up_s = seconds
        await s.commit()
    return before


@contextlib.asynccontextmanager
async def alice_and_bob_on_a_call(cfg: Config, env: VoiceEnv, proc: CcariProcess, *,
                                  supervisor: bool = False,
                                  wrap_up_s: float | None = None) -> AsyncIterator[OnACall]:
    """(``supervisor``: sam's phone too, as legs["supervisor"]; ``wrap_up_s``: the queues'
    wrap-up for this call, the usual one back afterwards.)"""
    engine = make_engine(cfg.database.url)
    sessions = make_sessionmaker(engine)
    usual = await _wrap_up(sessions, wrap_up_s) if wrap_up_s is not None else None
    legs = await three_legs(env, supervisor=supervisor)
    legs["colleague"] = await leg("colleague", PHONE_IP, lambda **p: phone(env, "bob", **p))
    p = cfg.pbx
    pages: list[AgentPage] = []
    try:
        async with aiohttp.ClientSession() as http:
            ari = AriRest(http, f"http://127.0.0.1:{p.ari_port}", p.ari_user, p.ari_password,
                          p.app_name)
            await proc.start()
            alice, bob = await page_of(proc, env, "alice"), await page_of(proc, env, "bob")
            pages += [alice, bob]
            assert (await alice.presence("ready"))["state"] == "ready"
            assert (await bob.presence("ready"))["state"] == "ready"
            async with contextlib.AsyncExitStack() as phones:
                for name in ("agent", "colleague", "supervisor")[:3 if supervisor else 2]:
                    await phones.enter_async_context(legs[name].sipp)
                await legs["customer"].sipp.start()
                customer = legs["customer"].sink
                await eventually(lambda: _true(customer.remote), what="the IVR's first words")
                customer.press("1")
                live = await eventually(lambda: connected(sessions), what="connected")
                yield OnACall(sessions, legs, ari, pages, alice, bob, live)
    finally:
        for page in pages:
            await page.close()
        await closed(legs)
        if usual is not None:
            await _wrap_up(sessions, usual)
        await engine.dispose()


async def supervisor_page(proc: CcariProcess, env: VoiceEnv,
                          pages: list[AgentPage]) -> Supervisor:
    """sam's page (closed on the way out)."""
    sam = Supervisor(await page_of(proc, env, "sam"))
    pages.append(sam.page)
    return sam


async def customer_hears(legs: dict[str, Leg], *speakers: str) -> dict[str, bool]:
    """What the held customer hears of ``speakers`` (over the music: only a tone at full
    strength counts as heard)."""
    await asyncio.sleep(0.2)  # what was mixed before drains
    since = time.monotonic()
    await asyncio.sleep(0.6)  # a window of sound
    got = legs["customer"].sink.tones(since, time.monotonic(), FREQS.values())
    return {s: got[FREQS[s]] >= HEARD for s in speakers}


async def consult_bridged(ari: AriRest, leg_id: str) -> str | None:
    """The consult's own bridge, once the consulted leg is in it."""
    return next((b.id for b in await ari.list_bridges()
                 if leg_id in b.channels and b.id.startswith("cnb-")), None)


async def consult_events(sessions: async_sessionmaker[AsyncSession], cid: str,
                         like: str = "consult-%") -> list[str]:
    async with sessions() as s:
        return list(await s.scalars(select(ContactEvent.kind).where(
            ContactEvent.contact_id == cid, ContactEvent.kind.like(like))
            .order_by(ContactEvent.id)))


@pytest.mark.parametrize("choice", ["complete", "cancel"])
async def test_a_consult_under_way_survives_a_restart_then_completes_or_cancels(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
    choice: str,
) -> None:
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc) as on:
        sessions, legs, ari, pages = on.sessions, on.legs, on.ari, on.pages
        alice, bob, live, cid = on.alice, on.bob, on.live, on.live.id
        talk = {k: legs[k] for k in ("agent", "colleague")}
        consulting = table(talk, "agent<colleague", "colleague<agent")
        assert live.agent_channel_id and live.bridge_id and live.channel_id
        await speak(ari, legs["agent"], live.agent_channel_id)
        assert await rest(alice, cid, "consult", {"agent": "bob"}) == (
            200, {"type": "consulting", "contact_id": cid})
        consult = f"cns-{cid}-1"
        bridge = await eventually(lambda: consult_bridged(ari, consult),
                                  what="bob answered and bridged")
        await speak(ari, legs["colleague"], consult)
        assert await settled(talk, consulting) == consulting
        await alice.close()

        await ccari_proc.kill()
        await ccari_proc.start()
        alice = await page_of(ccari_proc, voice_env, "alice")
        pages.append(alice)

        # Rebuilt (until then the call is nobody's: 404): a consult is under way.
        async def consult_again() -> tuple[int, str] | None:
            status, body = await rest(alice, cid, "consult", {"agent": "bob"})
            return None if status == 404 else (status, body.get("error", ""))

        assert await eventually(consult_again, what="the call rebuilt") == (
            409, "consult-in-progress")
        # Her reopened page shows the call, connected, with the consult under way.
        told = [(m["type"], m.get("contact_id") or m.get("contact", {}).get("id"))
                for m in await alice.resume_calls()]
        assert told == [("offer", cid), ("connected", cid), ("consulting", cid),
                        ("consult-answered", cid), ("calls", None)]
        # bob, on the consult, is offered no queued call meanwhile.
        bob = await page_of(ccari_proc, voice_env, "bob")
        pages.append(bob)
        assert bob.hello is not None
        assert (bob.hello["state"], bob.hello["reason"]) == ("not_ready", "in_call")
        status, body = await rest(alice, cid, "hold")
        assert (status, body["error"]) == (409, "consult-in-progress")
        # Nothing moved: alice and bob talk, the caller holds with the music.
        assert set((await ari.get_bridge(bridge)).channels) == {
            live.agent_channel_id, consult}
        assert live.channel_id not in (await ari.get_bridge(live.bridge_id)).channels
        assert await settled(talk, consulting) == consulting
        assert await customer_hears(legs, "agent", "colleague") == {
            "agent": False, "colleague": False}

        if choice == "complete":  # the caller talks with bob, alice leaves
            assert await rest(alice, cid, "consult_complete") == (
                200, {"type": "transferred", "contact_id": cid})
            stay, last = ("customer", "colleague"), consult
        else:  # bob is hung up, the caller is back with alice
            assert await rest(alice, cid, "consult_cancel") == (
                200, {"type": "consult-cancelled", "contact_id": cid})
            stay, last = ("customer", "agent"), live.agent_channel_id
        pair = {k: legs[k] for k in stay}
        want = table(pair, f"{stay[0]}<{stay[1]}", f"{stay[1]}<{stay[0]}")
        assert await settled(pair, want) == want
        await eventually(lambda: _gone(ari, bridge), what="the consult's bridge gone")
        await ari.hangup(last)  # the caller's other side hangs up: the call ends
        ended = await eventually(lambda: _ended(sessions, cid), what="completed")
        kinds = await consult_events(sessions, cid)
    assert ended.disposition == (
        "transferee-hangup" if choice == "complete" else "agent-hangup")
    # (The consult asked again while one was under way was refused.)
    assert kinds == ["consult-dialling", "consult-answered", "consult-refused",
                     "consult-completed" if choice == "complete" else "consult-ended"]


async def _gone(ari: AriRest, bridge: str) -> bool:
    return bridge not in {b.id for b in await ari.list_bridges()}


async def test_a_conference_survives_a_restart_then_a_party_is_removed(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc) as on:
        sessions, legs, ari, pages = on.sessions, on.legs, on.ari, on.pages
        alice, live, cid = on.alice, on.live, on.live.id
        # Bob muted: he hears both, nobody hears him.
        muted = table(legs, "customer<agent", "agent<customer", "colleague<customer",
                      "colleague<agent")
        assert live.agent_channel_id and live.bridge_id and live.channel_id
        await speak(ari, legs["agent"], live.agent_channel_id)
        party = f"cnf-{cid}-1"
        assert await rest(alice, cid, "conference_add", {"agent": "bob"}) == (
            200, {"type": "conference-dialling", "contact_id": cid, "party": party})

        async def in_call() -> bool:
            return party in (await ari.get_bridge(live.bridge_id or "")).channels

        await eventually(in_call, what="bob answered and in the call")
        await speak(ari, legs["colleague"], party)
        assert (await rest(alice, cid, "conference_mute", {"party": party}))[0] == 200
        assert await settled(legs, muted) == muted
        await alice.close()

        await ccari_proc.kill()
        await ccari_proc.start()
        alice = await page_of(ccari_proc, voice_env, "alice")
        pages.append(alice)

        async def listed() -> dict[str, Any] | None:
            status, body = await rest(alice, cid, "conference_list")
            return None if status == 404 else body

        found = await eventually(listed, what="the conference rebuilt")
        assert [(x["id"], x["who"], x["state"], x["muted"]) for x in found["parties"]] \
            == [(party, {"agent": "bob"}, "joined", True)]
        # Her reopened page lists the party as it stands.
        told = {m["type"]: m for m in await alice.resume_calls()}
        assert [(x["id"], x["muted"]) for x in told["conference"]["parties"]] == [(party, True)]
        assert told["calls"]["contact_ids"] == [cid]
        status, body = await rest(alice, cid, "conference_mute", {"party": party})
        assert (status, body["error"]) == (409, "party-muted")
        assert await settled(legs, muted) == muted  # muted again after the restart
        assert (await rest(alice, cid, "conference_unmute", {"party": party}))[0] == 200
        everyone = table(legs, "customer<agent", "customer<colleague",
                         "agent<customer", "agent<colleague", "colleague<customer",
                         "colleague<agent")
        assert await settled(legs, everyone) == everyone

        # Removed: bob is hung up, the customer and alice talk on, then end the call.
        assert await rest(alice, cid, "conference_remove", {"party": party}) == (
            200, {"type": "conference-removed", "contact_id": cid, "party": party})

        async def bob_gone() -> bool:
            return party not in {c.id for c in await ari.list_channels()}

        await eventually(bob_gone, what="bob's leg hung up")
        two = {k: legs[k] for k in ("customer", "agent")}
        back = table(two, "customer<agent", "agent<customer")
        assert await settled(two, back) == back
        assert (await rest(alice, cid, "hangup"))[0] == 200
        ended = await eventually(lambda: _ended(sessions, cid), what="completed")
        async with sessions() as s:
            kinds = list(await s.scalars(select(ContactEvent.kind).where(
                ContactEvent.contact_id == cid, ContactEvent.kind.like("conference-%"))
                .order_by(ContactEvent.id)))
    assert ended.disposition == "agent-hangup"
    assert kinds == ["conference-dialling", "conference-joined", "conference-muted",
                     "conference-unmuted", "conference-removed"]


async def test_a_conference_the_agent_left_goes_on_after_a_restart(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc) as on:
        sessions, legs, ari, pages = on.sessions, on.legs, on.ari, on.pages
        alice, live, cid = on.alice, on.live, on.live.id
        two = {k: legs[k] for k in ("customer", "colleague")}
        talking = table(two, "customer<colleague", "colleague<customer")
        assert live.agent_channel_id and live.bridge_id and live.channel_id
        party = f"cnf-{cid}-1"
        assert (await rest(alice, cid, "conference_add", {"agent": "bob"}))[0] == 200

        async def in_call() -> bool:
            return party in (await ari.get_bridge(live.bridge_id or "")).channels

        await eventually(in_call, what="bob answered and in the call")
        await speak(ari, legs["colleague"], party)
        assert await rest(alice, cid, "conference_leave") == (
            200, {"type": "conference-left", "contact_id": cid})
        assert await settled(two, talking) == talking

        await ccari_proc.kill()
        await ccari_proc.start()
        sam = await page_of(ccari_proc, voice_env, "sam")
        pages.append(sam)

        async def rebuilt() -> bool:  # the call is this node's again
            resp = await sam.http.get("/supervisor/api/calls")
            calls = (await resp.json())["calls"] if resp.status == 200 else []
            return any(c["id"] == cid and "on_hold" in c for c in calls)

        await eventually(rebuilt, what="the call rebuilt")
        # alice's reopened page has the call she left, to wrap up.
        alice = await page_of(ccari_proc, voice_env, "alice")
        pages.append(alice)
        told = [(m["type"], m.get("contact_id") or m.get("contact", {}).get("id"))
                for m in await alice.resume_calls()]
        assert told == [("offer", cid), ("completed", cid), ("calls", None)]
        # Still theirs: the customer and bob talk on, without alice.
        assert await settled(two, talking) == talking
        async with sessions() as s:
            row = await s.get(Contact, cid)
            assert row is not None and row.state == "connected"
        await ari.hangup(party)  # bob, the last party, leaves: the call is over
        ended = await eventually(lambda: _ended(sessions, cid), what="completed")
    assert ended.disposition == "conference-over", (ended.disposition, ended.meta)


async def test_a_call_handed_over_by_a_completed_consult_stays_up_after_a_restart(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    # Her wrap-up outlasts the restart however slow the box (5 s would not, under load).
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc, wrap_up_s=120) as on:
        sessions, legs, ari, pages = on.sessions, on.legs, on.ari, on.pages
        alice, cid = on.alice, on.live.id
        two = {k: legs[k] for k in ("customer", "colleague")}
        talking = table(two, "customer<colleague", "colleague<customer")
        assert (await rest(alice, cid, "consult", {"agent": "bob"}))[0] == 200
        consult = f"cns-{cid}-1"
        await eventually(lambda: consult_bridged(ari, consult), what="bob answered")
        await speak(ari, legs["colleague"], consult)
        assert (await rest(alice, cid, "consult_complete"))[0] == 200
        assert await settled(two, talking) == talking

        async def wrap_up_saved() -> bool:  # her wrap-up of the call, kept across a restart
            async with sessions() as s:
                until = await s.scalar(select(Agent.wrap_until).where(Agent.username == "alice"))
            return until is not None

        await eventually(wrap_up_saved, what="alice's wrap-up saved")
        await ccari_proc.kill()
        await ccari_proc.start()
        sam = await page_of(ccari_proc, voice_env, "sam")
        pages.append(sam)

        async def rebuilt() -> bool:  # the call is this node's again
            resp = await sam.http.get("/supervisor/api/calls")
            calls = (await resp.json())["calls"] if resp.status == 200 else []
            return any(c["id"] == cid and "on_hold" in c for c in calls)

        await eventually(rebuilt, what="the call rebuilt")
        assert await settled(two, talking) == talking  # still theirs
        # alice is free of it: in her wrap-up of it still (not ready at once), the call hers
        # to wrap up.
        alice = await page_of(ccari_proc, voice_env, "alice")
        pages.append(alice)
        assert alice.hello is not None and alice.hello["state"] == "wrap_up"
        assert [m["type"] for m in await alice.resume_calls()] == ["offer", "completed", "calls"]
        await ari.hangup(consult)  # bob hangs up: the call ends
        ended = await eventually(lambda: _ended(sessions, cid), what="completed")
    assert ended.disposition == "transferee-hangup"


async def test_a_supervisor_listening_listens_on_after_a_restart_then_whispers(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc,
                                       supervisor=True) as on:
        legs, ari, pages, cid = on.legs, on.ari, on.pages, on.live.id
        three = {k: legs[k] for k in ("customer", "agent", "supervisor")}
        assert on.live.agent_channel_id and on.live.channel_id
        await speak(ari, legs["agent"], on.live.agent_channel_id)
        sam = await supervisor_page(ccari_proc, voice_env, pages)
        assert (await sam.monitor(cid, "listen"))[0] == 200
        session = await eventually(lambda: session_of(sam, cid), what="sam's phone answered")
        assert await settled(three, EXPECTED["listen"]) == EXPECTED["listen"]
        await on.alice.close()

        await ccari_proc.kill()
        await ccari_proc.start()
        sam = await supervisor_page(ccari_proc, voice_env, pages)
        # The same session goes on: sam still hears both, nobody hears her.
        again = await eventually(lambda: session_of(sam, cid), what="the session rebuilt")
        assert (again["session"], again["mode"]) == (session["session"], "listen")
        assert await settled(three, EXPECTED["listen"]) == EXPECTED["listen"]
        # She whispers to alice on the same phone call, and alice's page says so.
        alice = await page_of(ccari_proc, voice_env, "alice")
        pages.append(alice)
        status, body = await sam.monitor(cid, "whisper")
        assert (status, body["session"]) == (200, session["session"])
        assert await settled(three, EXPECTED["whisper"]) == EXPECTED["whisper"]
        told = {m["type"]: m for m in await alice.resume_calls()}
        assert told["monitored"]["mode"] == "whisper"
        status, body = await sam.call("DELETE", f"/supervisor/api/calls/{cid}/monitor")
        assert (status, body["state"]) == (200, "stopped")

        async def session_gone() -> bool:
            return {c.id for c in await ari.list_channels()} == {
                on.live.channel_id, on.live.agent_channel_id}

        await eventually(session_gone, what="no supervisor leg or snoop left")
        await ari.hangup(on.live.channel_id)
        await eventually(lambda: _ended(on.sessions, cid), what="completed")
        sam_phone = await legs["supervisor"].sipp.result()
    assert sam_phone.requests.get("INVITE") == 1, sam_phone.describe()  # never dialled again
    kinds = await consult_events(on.sessions, cid, "monitor-%")
    assert kinds == ["monitor-started", "monitor-mode", "monitor-stopped"]


async def test_a_call_taken_over_by_a_supervisor_stays_hers_after_a_restart(
    voice_cfg: Config, voice_env: VoiceEnv, ccari_proc: CcariProcess,  # noqa: F811
) -> None:
    async with alice_and_bob_on_a_call(voice_cfg, voice_env, ccari_proc,
                                       supervisor=True) as on:
        legs, ari, pages, cid = on.legs, on.ari, on.pages, on.live.id
        two = {k: legs[k] for k in ("customer", "supervisor")}
        talking = table(two, "customer<supervisor", "supervisor<customer")
        sam = await supervisor_page(ccari_proc, voice_env, pages)
        assert (await sam.monitor(cid, "take_over"))[0] == 200
        session = await eventually(lambda: session_of(sam, cid), what="sam's phone answered")
        sup_leg = f"sup-{session['session']}"

        async def only_sam_and_the_customer() -> bool:
            bridge = await ari.get_bridge(on.live.bridge_id or "")
            return set(bridge.channels) == {on.live.channel_id, sup_leg}

        await eventually(only_sam_and_the_customer, what="alice's leg out, sam's in")
        assert await settled(two, talking) == talking
        await on.alice.close()

        await ccari_proc.kill()
        await ccari_proc.start()
        sam = await supervisor_page(ccari_proc, voice_env, pages)
        again = await eventually(lambda: session_of(sam, cid), what="the session rebuilt")
        assert (again["session"], again["mode"]) == (session["session"], "take_over")
        assert await only_sam_and_the_customer()
        assert await settled(two, talking) == talking
        alice = await page_of(ccari_proc, voice_env, "alice")  # free of it
        pages.append(alice)
        assert alice.hello is not None and alice.hello["state"] == "ready"
        # Sam hangs up: the call ends, with nothing left of it.
        await ari.hangup(sup_leg)
        ended = await eventually(lambda: _ended(on.sessions, cid), what="completed")

        async def nothing_left() -> bool:
            return not await ari.list_channels() and not await ari.list_bridges()

        await eventually(nothing_left, what="no channel or bridge left")
    assert ended.disposition == "supervisor-hangup"
