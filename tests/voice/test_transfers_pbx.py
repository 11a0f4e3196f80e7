"""Blind transfers on the real Asterisk: SIPp plays the caller, the agents' phones and the
outside number behind the carrier; the agent's page is its websocket session (and the REST
API, the same commands)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ccari.admission.models import TrunkCall
from ccari.app import Runtime, runtime
from ccari.config import Config
from ccari.storage.models import Queue
from tests.support.agent_web import AgentPage
from tests.support.openapi import Conformances
from tests.voice.calls import (
    ADA,
    alice_answers,
    call_with_alice,
    channels_in,
    command,
    connected_to,
    events_of,
    nothing_left,
    page_of,
    redirect,
    rest,
    same,
    same_set,
    serving,
    table,
)
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import (
    FREQS,
    HEARD,
    Leg,
    settled,
)
from tests.voice.test_call_controls_pbx import _sent
from tests.voice.test_callbacks_pbx import (  # noqa: F401 - fixtures
    Customer,
    callbacks_config,
    cb,
    customer,
    rows,
    settings,
)
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


class Pushed:
    """Everything pushed to an agent's page, collected as it comes."""

    def __init__(self, page: AgentPage) -> None:
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read(page))

    async def _read(self, page: AgentPage) -> None:
        async for msg in page.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(msg.json())

    async def of(self, contact_id: str, last: str, times: int = 1
                 ) -> list[dict[str, Any]] | None:
        """The messages about ``contact_id`` so far, once ``times`` of type ``last`` came."""
        mine = [m for m in self.messages if contact_id in (
            m.get("contact_id"), m.get("contact", {}).get("id"))]
        return mine if sum(m.get("type") == last for m in mine) >= times else None

    async def offer(self) -> dict[str, Any] | None:
        return next((m["contact"] for m in self.messages if m.get("type") == "offer"), None)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def ring_timeout(rt: Runtime, seconds: int) -> None:
    async with rt.sessions() as s:
        for q in await s.scalars(select(Queue)):
            q.ring_timeout_s = seconds
        await s.commit()


async def test_blind_transfer_to_a_colleague_rings_her_with_the_same_customer(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    agents = await ready(ccari, "alice", "bob")
    alice, bob = agents["alice"], agents["bob"]
    async with serving(ccari, voice_env, openapi_conformance) as served:
        page, bob_page = await page_of(served, "alice"), await page_of(served, "bob")
        bob_pushed = Pushed(bob_page)
        try:
            async with phone(voice_env, "alice") as alice_phone, \
                    phone(voice_env, "bob", answer_after_ms=2500) as bob_phone:
                call = caller(voice_env, digits="1", hangup_after_ms=0, caller=ADA)
                await call.start()
                live = await eventually(lambda: connected_to(ccari, alice.id), what="alice")
                cid = live.id
                # Refused, each with its id: another tenant's agent is nobody here, the
                # supervisor is not ready, oneself, two targets at once.
                status, body = await rest(page, cid, "transfer", {"agent": "carol"})
                assert (status, body["error"]) == (404, "agent-not-found")
                status, body = await rest(page, cid, "transfer", {"agent": "sam"})
                assert (status, body["error"]) == (409, "agent-unavailable")
                refused = await command(page, {"type": "call.transfer", "contact_id": cid,
                                               "agent": "alice"}, "transferred")
                assert refused["error"] == "bad-transfer"
                status, body = await rest(page, cid, "transfer", {"agent": "bob",
                                                                  "skill": "support"})
                assert (status, body["error"]) == (400, "bad-transfer")
                assert (await one_contact_in(ccari, "connected")) is not None  # still with her

                moved = await command(page, {"type": "call.transfer", "contact_id": cid,
                                             "agent": "bob"}, "transferred")
                assert moved == {"type": "transferred", "contact_id": cid}
                ringing = await eventually(lambda: one_contact_in(ccari, "offered"),
                                           what="bob's phone ringing")
                assert ringing.agent_id == bob.id
                # While bob's phone rings the caller hears the music.
                assert ringing.channel_id is not None
                assert await _sent(ccari, ringing.channel_id) >= 25
                pop = await eventually(bob_pushed.offer, what="bob's screen pop")
                again = await eventually(lambda: connected_to(ccari, bob.id),
                                         what="connected to bob")
                assert again.bridge_id is not None
                assert await channels_in(ccari, again.bridge_id) == {
                    again.channel_id, again.agent_channel_id}
                # Bob hangs up (from his page: his phone keeps the call till then).
                assert (await rest(bob_page, cid, "hangup"))[0] == 200
                ended = await eventually(lambda: one_contact_in(ccari, "completed"), 15,
                                         "completed")
                result = await call.wait()
                assert result.ok, result.describe()
            alice_result, bob_result = await alice_phone.result(), await bob_phone.result()
        finally:
            await bob_pushed.close()
            await page.close()
            await bob_page.close()
    assert alice_result.requests.get("BYE") == 1
    assert bob_result.requests.get("INVITE") == 1
    # Bob's page showed the same customer, with the same contact and its history.
    assert pop["id"] == cid and pop["customer"]["name"] == "Ada Lovelace"
    assert again.id == cid and again.queued_at == live.queued_at  # its place rules kept
    assert again.agent_channel_id == f"agent-{cid}-2"  # the offer's stable id
    assert ended.agent_id == bob.id and ended.disposition == "agent-hangup"
    assert ended.meta["transfers"] == [{"agent_id": alice.id, "to": {"agent": "bob"}}]
    events = await events_of(ccari, ended)
    refusals = [e.data["error"] for e in events if e.kind == "transfer-refused"]
    assert refusals == ["agent-not-found", "agent-unavailable", "bad-transfer"]
    kinds = [e.kind for e in events]
    assert kinds.index("transfer-requested") < kinds.index("queued", kinds.index("connected")) \
        < kinds.index("completed")
    assert ccari.queue.agent_state(alice.id) == "ready"


async def test_a_colleague_who_does_not_answer_sends_the_call_back_to_its_queue(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    await ring_timeout(ccari, 2)
    agents = await ready(ccari, "alice", "bob")
    alice, bob = agents["alice"], agents["bob"]
    async with serving(ccari, voice_env, openapi_conformance) as served:
        page = await page_of(served, "alice")
        try:
            async with phone(voice_env, "alice") as alice_phone, \
                    phone(voice_env, "bob", "agent_noanswer.xml") as bob_phone:
                call = caller(voice_env, digits="1", hangup_after_ms=0, caller=ADA)
                await call.start()
                live = await eventually(lambda: connected_to(ccari, alice.id), what="alice")
                assert await rest(page, live.id, "transfer", {"agent": "bob"}) == (
                    200, {"type": "transferred", "contact_id": live.id})
                # Bob does not answer: the call waits for its skill again (sales: alice).
                back = await eventually(lambda: connected_to(ccari, alice.id), 15,
                                        "back with alice")
                assert ccari.queue.agent_state(bob.id) == "not_ready"  # a missed offer
                assert ccari.ari is not None and back.channel_id is not None
                await ccari.ari.hangup(back.channel_id)
                ended = await eventually(lambda: one_contact_in(ccari, "completed"),
                                         what="completed")
                await call.wait()
            alice_result, bob_result = await alice_phone.result(), await bob_phone.result()
        finally:
            await page.close()
    assert alice_result.requests.get("INVITE") == 2 and bob_result.requests.get("INVITE") == 1
    assert ended.id == live.id and ended.queued_at == live.queued_at
    assert ended.offer_count == 3 and "reserved_agent" not in ended.meta
    assert ended.agent_id == alice.id and ended.disposition == "caller-hangup"
    kinds = [e.kind for e in await events_of(ccari, ended)]
    assert kinds.count("connected") == 2 and "transfer-unanswered" in kinds


async def trunk_calls(rt: Runtime) -> list[str]:
    return [t.call_id for t in await rows(rt, TrunkCall)]


async def test_blind_transfer_to_an_outside_number_goes_through_the_guard_and_admission(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer,  # noqa: F811 - fixtures
    openapi_conformance: Conformances
) -> None:
    async with alice_answers(cb, voice_env, openapi_conformance,
                             customer.phone(answer_after_ms=2000, hangup_after_ms=2500,
                                            dtmf_after_ms=10000)) as scene:
        page, call, live, alice = scene.page, scene.call, scene.live, scene.agents["alice"]
        cid = live.id
        # The toll-fraud guard first: not a number, not allowed for acme (France).
        status, body = await rest(page, cid, "transfer", {"number": "+1 2"})
        assert (status, body["error"]) == (422, "invalid-number")
        status, body = await rest(page, cid, "transfer", {"number": "+33 1 42 68 53 00"})
        assert (status, body["error"]) == (403, "number-not-allowed")
        assert customer.invites() == []

        moved = await command(page, {"type": "call.transfer", "contact_id": cid,
                                     "number": "+1 201 555 0142"}, "transferred")
        assert moved == {"type": "transferred", "contact_id": cid}
        leg = f"xfer-{cid}-1"
        # Alice is free at once; the caller hears the music while the number rings,
        # and the new leg holds a trunk.
        await eventually(lambda: same(cb.queue.agent_state(alice.id), "ready"),
                         what="alice ready")
        assert live.channel_id is not None
        assert await _sent(cb, live.channel_id) >= 25
        assert leg in await trunk_calls(cb)
        # Answered: the caller and the number, together in the call's bridge.
        assert live.bridge_id is not None
        bridged = {live.channel_id, leg}
        await eventually(lambda: same_set(channels_in(cb, live.bridge_id or ""), bridged),
                         what="caller and number bridged")
        # The number hangs up: the call ends.
        ended = await eventually(lambda: one_contact_in(cb, "completed"), 15,
                                 "completed")
        result = await call.wait()
        assert result.requests.get("BYE") == 1, result.describe()
    assert customer.invites() == [leg]  # dialled once, under the leg's stable id
    assert scene.alice_result is not None and scene.alice_result.requests.get("BYE") == 1
    assert ended.disposition == "outside-hangup" and ended.agent_id == alice.id
    assert ended.meta["transfers"] == [{"agent_id": alice.id, "to": {"number": "+12015550142"},
                                        "leg": leg}]
    events = await events_of(cb, ended)
    assert [e.data["error"] for e in events if e.kind == "transfer-refused"] == [
        "invalid-number", "number-not-allowed"]
    kinds = [e.kind for e in events]
    assert kinds.index("transfer-dialling") < kinds.index("transfer-answered") \
        < kinds.index("completed")
    await eventually(lambda: same(trunk_calls(cb), []), what="every trunk released")


async def test_an_outside_number_that_is_busy_ends_the_call(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer,  # noqa: F811 - fixtures
    openapi_conformance: Conformances
) -> None:
    async with alice_answers(cb, voice_env, openapi_conformance,
                             customer.phone(busy_first=1)) as scene:
        page, call, live = scene.page, scene.call, scene.live
        assert await rest(page, live.id, "transfer", {"number": "+12015550142"}) == (
            200, {"type": "transferred", "contact_id": live.id})
        ended = await eventually(lambda: one_contact_in(cb, "completed"), 15,
                                 "completed")
        result = await call.wait()
    assert result.requests.get("BYE") == 1, result.describe()
    assert ended.disposition == "transfer-unanswered"
    assert customer.invites() == [f"xfer-{live.id}-1"]
    await eventually(lambda: same(trunk_calls(cb), []), what="every trunk released")


# ---- consultative transfers ------------------------------------------------------------------
async def customer_hears(legs: dict[str, Leg], *speakers: str) -> dict[str, bool]:
    """What the held customer hears of ``speakers`` (over the music: only a tone at full
    strength counts as heard)."""
    await asyncio.sleep(0.2)
    since = time.monotonic()
    await asyncio.sleep(0.6)
    got = legs["customer"].sink.tones(since, time.monotonic(), FREQS.values())
    return {s: got[FREQS[s]] >= HEARD for s in speakers}


async def answered_consult(rt: Runtime, legs: dict[str, Leg], contact_id: str, n: int) -> str:
    """The consulted leg ``n`` answered and in a bridge; bob's phone speaks on it."""
    consult = f"cns-{contact_id}-{n}"

    async def in_bridge() -> bool:
        assert rt.ari is not None
        return any(consult in b.channels for b in await rt.ari.list_bridges())

    await eventually(in_bridge, what=f"{consult} answered and bridged")
    # Bob's phone speaks to this call's RTP address (a second consult is a new call).
    await redirect(rt, legs["colleague"], consult)
    return consult


async def test_consult_a_skill_cancel_then_a_colleague_complete(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    async with call_with_alice(ccari, voice_env, openapi_conformance, ready_too=("bob",),
                               phones={"colleague": "bob"}) as scene:
        page, legs, live, cid = scene.page, scene.legs, scene.live, scene.cid
        bob_page = await page_of(scene.served, "bob")
        bob_pushed = Pushed(bob_page)
        three = scene.only("customer", "agent")
        status, body = await rest(page, cid, "consult_complete")
        assert (status, body["error"]) == (409, "not-consulting")
        status, body = await rest(page, cid, "consult", {"skill": "billing"})
        assert (status, body["error"]) == (409, "no-agent-free")  # nobody has it
        # A consult to a skill rings the colleague ready with it: bob (support).
        assert await rest(page, cid, "consult", {"skill": "support"}) == (
            200, {"type": "consulting", "contact_id": cid})
        status, body = await rest(page, cid, "consult", {"agent": "bob"})
        assert (status, body["error"]) == (409, "consult-in-progress")
        await answered_consult(ccari, legs, cid, 1)
        # bob's page shows the call's screen pop: the same customer, a consult from alice.
        told = await eventually(lambda: bob_pushed.of(cid, "connected"), what="bob's pop")
        assert [m["type"] for m in told] == ["offer", "connected"]
        assert told[0]["contact"]["customer"]["name"] == "Ada Lovelace"
        assert told[0]["consult"] == {"from": "Alice Sales"}
        # Alice and bob talk; the customer, on hold, hears neither.
        talk = scene.only("agent", "colleague")
        want = table(talk, "agent<colleague", "colleague<agent")
        assert await settled(talk, want) == want
        assert await customer_hears(legs, "agent", "colleague") == {
            "agent": False, "colleague": False}
        # Cancel: bob is hung up, the customer is back with alice.
        cancelled = await command(page, {"type": "call.consult_cancel", "contact_id": cid},
                                  "consult-cancelled")
        assert cancelled == {"type": "consult-cancelled", "contact_id": cid}
        back = table(three, "customer<agent", "agent<customer")
        assert await settled(three, back) == back
        await eventually(lambda: bob_pushed.of(cid, "withdrawn"), what="bob's pop gone")

        # Again, then complete: the customer talks with bob, alice leaves.
        await command(page, {"type": "call.consult", "contact_id": cid, "agent": "bob"},
                      "consulting")
        consult = await answered_consult(ccari, legs, cid, 2)
        done = await command(page, {"type": "call.consult_complete", "contact_id": cid},
                             "transferred")
        assert done == {"type": "transferred", "contact_id": cid}
        # Alice is in her wrap-up (5 s: asked at once, not after the audio has settled).
        assert ccari.queue.agent_state(scene.agents["alice"].id) == "wrap_up"
        joined = scene.only("customer", "colleague")
        want = table(joined, "customer<colleague", "colleague<customer")
        assert await settled(joined, want) == want
        assert ccari.ari is not None and live.bridge_id is not None
        assert await channels_in(ccari, live.bridge_id) == {live.channel_id, consult}
        # Bob hangs up: the call ends, its pop leaves his page.
        await ccari.ari.hangup(consult)
        ended = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
        await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
        pushed = await eventually(lambda: bob_pushed.of(cid, "withdrawn", 2),
                                  what="bob's pop gone")
        await bob_pushed.close()
        await bob_page.close()
    assert [m["type"] for m in pushed] == ["offer", "connected", "withdrawn"] * 2
    assert ended.disposition == "transferee-hangup"
    assert ended.agent_id == scene.agents["alice"].id
    assert [c["to"] for c in ended.meta["consults"]] == [
        {"agent": "bob", "skill": "support"}, {"agent": "bob"}]
    kinds = [e.kind for e in await events_of(ccari, ended)]
    assert kinds.count("consult-dialling") == 2 and kinds.count("consult-answered") == 2
    assert kinds.index("consult-ended") < kinds.index("consult-completed") \
        < kinds.index("completed")
    assert "consult-refused" in kinds  # the second consult asked while one was under way


async def test_a_three_way_call_mixes_everyone_and_the_colleague_may_leave(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    async with call_with_alice(ccari, voice_env, openapi_conformance, ready_too=("bob",),
                               phones={"colleague": "bob"}) as scene:
        page, legs, live, cid = scene.page, scene.legs, scene.live, scene.cid
        await command(page, {"type": "call.consult", "contact_id": cid, "agent": "bob"},
                      "consulting")
        consult = await answered_consult(ccari, legs, cid, 1)
        assert await rest(page, cid, "consult_conference") == (
            200, {"type": "conferenced", "contact_id": cid})
        everyone = table(legs, "customer<agent", "customer<colleague", "agent<customer",
                         "agent<colleague", "colleague<customer", "colleague<agent")
        assert await settled(legs, everyone) == everyone
        # Bob leaves: alice and the customer go on.
        assert ccari.ari is not None
        await ccari.ari.hangup(consult)
        three = scene.only("customer", "agent")
        back = table(three, "customer<agent", "agent<customer")
        assert await settled(three, back) == back
        assert (await one_contact_in(ccari, "connected")) is not None
        await ccari.ari.hangup(live.channel_id or "")
        ended = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
        await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
    assert ended.disposition == "caller-hangup"
    kinds = [e.kind for e in await events_of(ccari, ended)]
    assert kinds.index("consult-conference") < kinds.index("consult-left") \
        < kinds.index("completed")


async def test_consult_a_number_busy_then_the_caller_hangs_up_during_the_consult(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer,  # noqa: F811 - fixtures
    openapi_conformance: Conformances
) -> None:
    async with alice_answers(cb, voice_env, openapi_conformance,
                             customer.phone(busy_first=1, dtmf_after_ms=10000)) as scene:
        page, live, alice = scene.page, scene.live, scene.agents["alice"]
        cid = live.id
        assert live.bridge_id is not None and live.agent_channel_id is not None
        status, body = await rest(page, cid, "consult", {"number": "+33142685300"})
        assert (status, body["error"]) == (403, "number-not-allowed")
        # Busy: the caller is back with alice.
        await command(page, {"type": "call.consult", "contact_id": cid,
                             "number": "+12015550142"}, "consulting")
        both = {live.channel_id, live.agent_channel_id}
        await eventually(lambda: same_set(channels_in(cb, live.bridge_id or ""), both),
                         what="caller back with alice")
        # Again: answered, and the caller hangs up while alice talks to the number.
        await command(page, {"type": "call.consult", "contact_id": cid,
                             "number": "+12015550142"}, "consulting")
        talk = {live.agent_channel_id, f"cns-{cid}-2"}
        await eventually(lambda: same_set(channels_in(cb, f"cnb-{cid}-2"), talk),
                         what="alice and the number talking")
        assert f"cns-{cid}-2" in await trunk_calls(cb)
        assert cb.ari is not None and live.channel_id is not None
        await cb.ari.hangup(live.channel_id)
        ended = await eventually(lambda: one_contact_in(cb, "completed"),
                                 what="completed")
        await eventually(lambda: nothing_left(cb), what="no channel, no bridge")
        await eventually(lambda: same(cb.queue.agent_state(alice.id),
                                     "wrap_up"), what="alice in wrap-up")
    assert customer.invites() == [f"cns-{cid}-1", f"cns-{cid}-2"]  # each dialled once
    assert ended.disposition == "caller-hangup"
    events = await events_of(cb, ended)
    assert [e.data["reason"] for e in events if e.kind == "consult-ended"] == ["no-answer"]
    assert [e.data["error"] for e in events if e.kind == "consult-refused"] == [
        "number-not-allowed"]
    await eventually(lambda: same(trunk_calls(cb), []), what="every trunk released")


async def test_a_colleague_who_does_not_answer_a_consult_gives_the_caller_back(
    voice_cfg: Config, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    cfg = replace(voice_cfg, voice=replace(voice_cfg.voice, transfer_ring_s=2))
    async with runtime(cfg) as rt:
        agents = await ready(rt, "alice", "bob")
        async with serving(rt, voice_env, openapi_conformance) as served:
            page = await page_of(served, "alice")
            try:
                async with phone(voice_env, "alice"), \
                        phone(voice_env, "bob", "agent_noanswer.xml") as bob_phone:
                    call = caller(voice_env, digits="1", hangup_after_ms=0, caller=ADA)
                    await call.start()
                    live = await eventually(lambda: connected_to(rt, agents["alice"].id),
                                            what="alice")
                    cid = live.id
                    assert live.bridge_id is not None
                    await command(page, {"type": "call.consult", "contact_id": cid,
                                         "agent": "bob"}, "consulting")
                    status, body = await rest(page, cid, "consult_complete")
                    assert (status, body["error"]) == (409, "consult-not-answered")
                    # Bob's phone rings out: the caller is back with alice, the consult gone.
                    both = {live.channel_id, live.agent_channel_id}
                    await eventually(lambda: same_set(channels_in(rt, live.bridge_id or ""),
                                                     both), what="caller back with alice")
                    assert rt.ari is not None

                    async def no_consult_bridge() -> bool:  # (destroyed just after)
                        assert rt.ari is not None
                        return not [b.id for b in await rt.ari.list_bridges()
                                    if b.id.startswith("cnb-")]

                    await eventually(no_consult_bridge, 5, "the consult's bridge gone")
                    status, body = await rest(page, cid, "consult_cancel")
                    assert (status, body["error"]) == (409, "not-consulting")
                    await rt.ari.hangup(live.channel_id or "")
                    ended = await eventually(lambda: one_contact_in(rt, "completed"),
                                             what="completed")
                    await eventually(lambda: nothing_left(rt), what="no channel, no bridge")
                    await call.wait()
                assert (await bob_phone.result()).requests.get("INVITE") == 1
            finally:
                await page.close()
        events = await events_of(rt, ended)
    assert [e.data["reason"] for e in events if e.kind == "consult-ended"] == ["no-answer"]
    assert ended.disposition == "caller-hangup"

