"""The agent's call controls on the real Asterisk: SIPp plays the caller and the agents'
phones, the agent's page is its websocket session (and the REST API, the same commands)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from ccari.app import Runtime
from ccari.contacts import repo
from ccari.storage.models import Agent, Contact, Queue
from tests.support.openapi import Conformances
from tests.voice.calls import (
    Served,
    channels_in,
    command,
    connected_to,
    page_of,
    rest,
    same,
    serving,
)
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.media import closed, connected_call, settled, three_legs
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


@pytest.fixture
async def served(ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
                 ) -> AsyncIterator[Served]:
    """The internal listener on a real port, for this module's tests and its neighbours'."""
    async with serving(ccari, voice_env, openapi_conformance) as found:
        yield found


async def set_wrap_up(rt: Runtime, seconds: float) -> None:
    async with rt.sessions() as s:
        for q in await s.scalars(select(Queue)):
            q.wrap_up_s = seconds
        await s.commit()


async def wrap_until(rt: Runtime, agent_id: int) -> dt.datetime | None:
    """When the database says the agent's timed wrap-up ends."""
    async with rt.sessions() as s:
        row = await s.get(Agent, agent_id)
    assert row is not None
    return row.wrap_until


async def test_hold_resume_then_hang_up_from_the_page_with_a_disposition(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]]
) -> None:
    await set_wrap_up(ccari, 120)  # only the disposition ends this wrap-up
    agents = await ready(ccari, "alice")
    alice = agents["alice"]
    page = await page_of(served, "alice")
    try:
        async with phone(voice_env, "alice") as alice_phone:
            call = caller(voice_env, digits="1", hangup_after_ms=0)
            await call.start()
            live = await eventually(lambda: one_contact_in(ccari, "connected"), what="connected")
            cid, bridge = live.id, live.bridge_id
            assert live.agent_id == alice.id and bridge
            assert await channels_in(ccari, bridge) == {live.channel_id, live.agent_channel_id}

            # Not on hold yet: nothing to resume (409 with its id, over REST).
            assert await rest(page, cid, "resume") == (409, {
                "error": "call-not-on-hold", "message": "the call is not on hold"})
            # Hold: the caller leaves the bridge and hears the music; the agent, alone, nothing.
            held = await command(page, {"type": "call.hold", "contact_id": cid}, "held")
            assert held == {"type": "held", "contact_id": cid}
            assert await channels_in(ccari, bridge) == {live.agent_channel_id}
            caller_got, agent_got = await asyncio.gather(
                _sent(ccari, live.channel_id), _sent(ccari, live.agent_channel_id))
            assert caller_got >= 25, "the caller hears the music on hold (20 ms packets)"
            assert agent_got <= 2, "the agent hears nothing"
            again = await command(page, {"type": "call.hold", "contact_id": cid}, "held")
            assert again["error"] == "call-on-hold"
            await asyncio.sleep(1.5)
            # Resume over the REST API: bridged again, the music stopped.
            assert await rest(page, cid, "resume") == (200, {"type": "resumed", "contact_id": cid})
            assert await channels_in(ccari, bridge) == {live.channel_id, live.agent_channel_id}
            caller_got, agent_got = await asyncio.gather(
                _sent(ccari, live.channel_id), _sent(ccari, live.agent_channel_id))
            assert caller_got <= 2, "the music stopped (and the agent's phone sends nothing)"

            # Someone else's or an unknown call: 404; bad input: 4xx with its id.
            status, body = await rest(page, "nope", "hold")
            assert (status, body["error"]) == (404, "contact-not-found")
            status, body = await rest(page, cid, "explode")
            assert (status, body["error"]) == (404, "unknown-action")

            # Hang up from the page: both legs end, the agent is in wrap-up.
            done = await command(page, {"type": "call.hangup", "contact_id": cid}, "hung-up")
            assert done == {"type": "hung-up", "contact_id": cid}
            result = await call.wait()
            assert result.requests.get("BYE") == 1, result.describe()
            ended = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
            await eventually(lambda: same(ccari.queue.agent_state(alice.id), "wrap_up"),
                             what="alice in wrap-up")
            # Its end is saved (a rebuilt router keeps her in it), 120 s after the call's.
            end = await eventually(lambda: wrap_until(ccari, alice.id), what="its end saved")
            assert ended.ended_at is not None
            assert abs((end - ended.ended_at).total_seconds() - 120) < 5
        assert (await alice_phone.result()).requests.get("BYE") == 1
        assert ended.disposition == "agent-hangup" and ended.meta["hold_s"] >= 1.5

        bad = await command(page, {"type": "call.wrap_up", "contact_id": cid,
                                   "disposition": "whatever"}, "wrapped-up")
        assert bad["error"] == "bad-disposition"
        status, body = await rest(page, cid, "hold")
        assert (status, body["error"]) == (404, "contact-not-found")  # the call is over
        wrapped = await command(page, {"type": "call.wrap_up", "contact_id": cid,
                                       "disposition": "follow-up", "note": "send the quote"},
                                "wrapped-up")
        assert wrapped["disposition"] == "follow-up"
        # The disposition ends the wrap-up early: alice is ready again, no end saved.
        assert ccari.queue.agent_state(alice.id) == "ready"
        assert await wrap_until(ccari, alice.id) is None
        again = await command(page, {"type": "call.wrap_up", "contact_id": cid,
                                     "disposition": "resolved"}, "wrapped-up")
        assert again["error"] == "already-wrapped-up"
    finally:
        await page.close()
    async with ccari.sessions() as s:
        row = await s.get(Contact, cid)
        events = await repo.events(s, row.tenant_id, cid)
    assert row.disposition == "follow-up"
    assert row.meta["note"] == "send the quote" and row.meta["ended_by"] == "agent-hangup"
    kinds = [e.kind for e in events]
    assert kinds.index("held") < kinds.index("resumed") < kinds.index("completed") \
        < kinds.index("wrap-up")
    resumed = next(e for e in events if e.kind == "resumed")
    assert resumed.data["held_s"] >= 1.5 and resumed.data["agent_id"] == alice.id


async def test_blind_transfer_to_a_skill_reaches_the_agent_with_it(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]]
) -> None:
    agents = await ready(ccari, "alice", "bob")
    page = await page_of(served, "alice")
    try:
        async with phone(voice_env, "alice") as alice_phone, \
                phone(voice_env, "bob", hangup_after_ms=2000) as bob_phone:
            call = caller(voice_env, digits="1", hangup_after_ms=0, caller="15550199")
            await call.start()
            live = await eventually(lambda: one_contact_in(ccari, "connected"), what="connected")
            assert live.agent_id == agents["alice"].id
            bad = await command(page, {"type": "call.transfer", "contact_id": live.id},
                                "transferred")
            assert bad["error"] == "bad-skill"
            moved = await command(page, {"type": "call.transfer", "contact_id": live.id,
                                         "skill": "support"}, "transferred")
            assert moved == {"type": "transferred", "contact_id": live.id}
            again = await eventually(lambda: connected_to(ccari, agents["bob"].id),
                                     what="connected to bob")
            assert again.id == live.id and again.attributes["skill"] == "support"
            assert again.queued_at == live.queued_at  # its place rules: its queue time kept
            ended = await eventually(lambda: one_contact_in(ccari, "completed"), 15, "completed")
            result = await call.wait()
            assert result.ok, result.describe()
        alice_result, bob_result = await alice_phone.result(), await bob_phone.result()
    finally:
        await page.close()
    assert alice_result.requests.get("INVITE") == 1 and alice_result.requests.get("BYE") == 1
    assert bob_result.requests.get("INVITE") == 1
    assert ended.agent_id == agents["bob"].id and ended.disposition == "agent-hangup"
    assert ended.meta["transfers"] == [{"agent_id": agents["alice"].id,
                                        "to": {**live.attributes, "skill": "support"}}]
    assert ended.offer_count == 2
    assert ccari.queue.agent_state(agents["alice"].id) == "ready"


async def _sent(rt: Runtime, channel_id: str, seconds: float = 1.0) -> int:
    """RTP packets Asterisk sends on the channel over ``seconds`` (the agent phones and the
    caller send none, so what a leg gets while held can only be the music)."""
    assert rt.ari is not None
    before = (await rt.ari.rtp_statistics(channel_id))["txcount"]
    await asyncio.sleep(seconds)
    return int((await rt.ari.rtp_statistics(channel_id))["txcount"] - before)


async def test_mute_keeps_the_customer_from_hearing_the_agent(
    ccari: Runtime, voice_env: VoiceEnv, served: tuple[str, dict[str, Any]]
) -> None:
    await ready(ccari, "alice")
    page = await page_of(served, "alice")
    legs = await three_legs(voice_env, supervisor=False)
    try:
        async with legs["agent"].sipp:
            live = await connected_call(ccari, voice_env, legs)
            cid = live.id
            both = {("customer", "agent"): True, ("agent", "customer"): True}
            muted = {("customer", "agent"): False, ("agent", "customer"): True}
            assert await settled(legs, both) == both
            assert await rest(page, cid, "mute") == (200, {"type": "muted", "contact_id": cid})
            # Muted: the customer no longer hears her; she still hears the customer.
            assert await settled(legs, muted) == muted
            status, body = await rest(page, cid, "mute")
            assert (status, body["error"]) == (409, "already-muted")
            unmuted = await command(page, {"type": "call.unmute", "contact_id": cid}, "unmuted")
            assert unmuted == {"type": "unmuted", "contact_id": cid}
            assert await settled(legs, both) == both
            status, body = await rest(page, cid, "unmute")
            assert (status, body["error"]) == (409, "not-muted")
            status, body = await rest(page, "nope", "mute")
            assert (status, body["error"]) == (404, "contact-not-found")
            assert ccari.ari is not None
            await ccari.ari.hangup(live.channel_id or "")
            await eventually(lambda: one_contact_in(ccari, "completed"), what="completed")
    finally:
        await page.close()
        await closed(legs)
    async with ccari.sessions() as s:
        events = await repo.events(s, live.tenant_id, cid)
    assert [e.kind for e in events if e.kind in ("muted", "unmuted")] == ["muted", "unmuted"]
