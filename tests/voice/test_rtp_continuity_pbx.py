"""RTP continuity on the real Asterisk: what the caller's phone receives through a call that
changes source - the IVR's prompt, the queue's announcement and music, the agent, then the
queue's announcement and music again after the agent sends the call to another skill.

Every RTP header the caller's socket receives is kept (``RtpPeer.headers``: the capture, on
the loopback, where nothing is lost).  Within each SSRC the sequence numbers go up by one,
with no gap and no repeat; the first packet of each new SSRC has the marker bit set (RFC
3550 section 5.1, RFC 3551 section 4.1: the receiver resynchronises its jitter buffer at once
instead of stretching the old stream's timing).  The caller's trunk is not bundled, so
Asterisk 22.6+ gives each stream it sources after a bridge change a new SSRC
(``asterisk/ccari-pjsip.conf.j2``); while the caller is bridged to the agent, Asterisk relays
the agent phone's own stream (its SSRC and sequence numbers).
"""

from __future__ import annotations

import time

import pytest

from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.storage.models import Agent
from tests.support.openapi import Conformances
from tests.support.rtp import RtpHeader, RtpPeer, continuity_breaks, runs
from tests.voice.calls import command, connected_to, nothing_left, page_of, serving
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually
from tests.voice.media import FREQS, HEARD, leg, media_caller, speak
from tests.voice.test_voice_pbx import one_contact_in, phone

pytestmark = pytest.mark.pbx

SECOND = 50  # packets: one second of 20 ms packets


async def test_the_callers_stream_stays_continuous_and_marks_each_change_of_source(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    customer = await leg("customer", CARRIER_IP, lambda **p: media_caller(voice_env, **p),
                         hangup_after_ms=0, caller="15550199")
    agent = await leg("agent", PHONE_IP, lambda **p: phone(voice_env, "alice", **p))
    heard = customer.sink.headers
    async with serving(ccari, voice_env, openapi_conformance) as served:
        page = await page_of(served, "alice")
        try:
            async with agent.sipp:
                await customer.sipp.start()
                # 1. The IVR's prompt, then 1 (sales): the queue's announcement and music.
                await eventually(lambda: _after(heard, 0, SECOND // 2), what="the IVR's prompt")
                customer.sink.press("1")
                queued = await eventually(lambda: one_contact_in(ccari, "queued"),
                                          what="queued")
                since = len(heard)
                await eventually(lambda: _after(heard, since, 2 * SECOND), what="the queue")
                # 2. alice comes: the caller hears her phone.
                alice = await _agent(ccari, "alice")
                assert await ccari.queue.set_presence(alice, "ready") == "reserved"
                live = await eventually(lambda: connected_to(ccari, alice.id), what="alice")
                assert live.id == queued.id and live.agent_channel_id is not None
                await speak(ccari, agent, live.agent_channel_id)
                await eventually(lambda: _hears(customer.sink, agent.sink.ssrc), 10,
                                 "a second of alice's tone")
                # 3. alice sends the call to support: the queue's announcement and music.
                moved = await command(page, {"type": "call.transfer", "contact_id": live.id,
                                             "skill": "support"}, "transferred")
                assert moved == {"type": "transferred", "contact_id": live.id}
                since = len(heard)
                await eventually(lambda: _after(heard, since, 2 * SECOND), what="the queue again")
                assert ccari.voice is not None and live.channel_id is not None
                await ccari.voice.hangup(live.channel_id)
                await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
        finally:
            await page.close()
            customer.sink.close()
            agent.sink.close()
            await customer.sipp.stop()
    streams = runs(heard)
    described = [(f"{r.ssrc:08x}", r.packets) for r in streams]
    assert continuity_breaks(heard) == [], described
    # Asterisk's own stream (prompt, queue), alice's phone's, Asterisk's again under a new
    # SSRC (the queue after the transfer): each change of bridge is a new, marked stream.
    ssrcs = [r.ssrc for r in streams]
    assert agent.sink.ssrc in ssrcs, described
    at = ssrcs.index(agent.sink.ssrc)
    # (at least what the test waited for under it: half a second of prompt, two of queue)
    assert at >= 1 and streams[at - 1].packets >= SECOND // 2 + 2 * SECOND, described
    after = streams[at + 1:]
    assert after and sum(r.packets for r in after) >= 2 * SECOND, described
    assert {r.ssrc for r in after}.isdisjoint(ssrcs[:at + 1]), described


async def _after(headers: list[RtpHeader], since: int, n: int) -> bool:
    return len(headers) >= since + n


async def _hears(sink: RtpPeer, ssrc: int) -> bool:
    """A second of the agent phone's stream came, its last half second her tone."""
    now = time.monotonic()
    if sum(1 for h in sink.headers if h.ssrc == ssrc) < SECOND:
        return False
    return sink.tones(now - 0.5, now, [FREQS["agent"]])[FREQS["agent"]] >= HEARD


async def _agent(rt: Runtime, username: str) -> Agent:
    async with rt.sessions() as s:
        agent = await agents_repo.by_login(s, "acme", username)
    assert agent is not None
    return agent
