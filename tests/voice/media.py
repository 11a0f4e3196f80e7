"""The legs of a call whose audio the test makes and hears: SIPp signals each leg (the
caller from the carrier, the agents' phones), the leg's media is the test's own socket
(``tests/support/rtp.py``), which sends the leg's own tone and keeps what it receives; the
tones in what each leg receives say who hears whom."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccari.app import Runtime
from ccari.storage.models import Contact
from tests.support.rtp import RtpPeer, tone
from tests.support.sipp import Sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually
from tests.voice.test_voice_pbx import one_contact_in, phone

# Each leg's own tone (a consulted colleague's is the fourth, a conference's guest the fifth).
FREQS = {"customer": 500.0, "agent": 900.0, "supervisor": 1400.0, "colleague": 1900.0,
         "guest": 2300.0}
PARTIES = ("customer", "agent", "supervisor")  # the legs of the supervision tables
HEARD, UNHEARD = 1500.0, 400.0  # amplitude of a tone in what a leg receives (sent at 8000)


@dataclass
class Leg:
    """A SIP peer (SIPp, signalling) and its media (the test's socket: its own tone out,
    what it hears in)."""

    sipp: Sipp
    sink: RtpPeer


async def leg(name: str, ip: str, make: Callable[..., Sipp], **params: Any) -> Leg:
    sink = await RtpPeer.open(ip, tone(1.0, FREQS[name]))
    return Leg(make(sdp_port=sink.port, **params), sink)


async def hearing(legs: dict[str, Leg], seconds: float = 0.6) -> dict[tuple[str, str], bool]:
    """(listener, speaker) -> whether the listener's phone receives the speaker's tone."""
    await asyncio.sleep(0.2)  # what was mixed before the change drains
    since = time.monotonic()
    await asyncio.sleep(seconds)
    until = time.monotonic()
    heard: dict[tuple[str, str], bool] = {}
    for listener, it in legs.items():
        amplitudes = it.sink.tones(since, until, FREQS.values())
        for speaker, hz in FREQS.items():
            if speaker != listener and speaker in legs:
                amplitude = amplitudes[hz]
                assert amplitude >= HEARD or amplitude <= UNHEARD, \
                    f"{listener} gets {speaker}'s tone at {amplitude:.0f}: {amplitudes}"
                heard[(listener, speaker)] = amplitude >= HEARD
    return heard


async def settled(legs: dict[str, Leg], want: dict[tuple[str, str], bool] | None = None, *,
                  ok: Callable[[dict[tuple[str, str], bool]], bool] | None = None,
                  within: float = 8.0) -> dict[tuple[str, str], bool]:
    """:func:`hearing`, again until the table is ``want`` (or ``ok`` says it is right) or
    ``within`` seconds have passed; the last table.  A change of who hears whom reaches the
    legs once Asterisk has made it, later on a busy box: one window could catch it half way
    (a tone at half strength) or not yet."""
    deadline = time.monotonic() + within
    while True:
        try:
            heard = await hearing(legs)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            continue
        if (heard == want if ok is None else ok(heard)) or time.monotonic() > deadline:
            return heard


def pairs(*heard: str) -> dict[tuple[str, str], bool]:
    """The expected table: ``"a<b"`` means a hears b; every other pair does not."""
    yes = {tuple(h.split("<")) for h in heard}
    return {(a, b): (a, b) in yes for a in PARTIES for b in PARTIES if a != b}


EXPECTED = {
    "listen": pairs("customer<agent", "agent<customer", "supervisor<customer",
                    "supervisor<agent"),
    "whisper": pairs("customer<agent", "agent<customer", "supervisor<customer",
                     "supervisor<agent", "agent<supervisor"),
    "barge": pairs("customer<agent", "agent<customer", "supervisor<customer",
                   "supervisor<agent", "agent<supervisor", "customer<supervisor"),
    "take_over": pairs("customer<supervisor", "supervisor<customer"),
}


def media_caller(env: VoiceEnv, **params: Any) -> Sipp:
    return Sipp("caller_media.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                params=params, timeout_s=60, recv_timeout_ms=30000)


async def _true(value: object) -> bool:
    return bool(value)


async def connected_call(ccari: Runtime, voice_env: VoiceEnv,
                         legs: dict[str, Leg]) -> Contact:
    await legs["customer"].sipp.start()
    customer = legs["customer"].sink
    await eventually(lambda: _true(customer.remote), what="the IVR's first words")
    customer.press("1")  # sales: alice
    live: Contact = await eventually(lambda: one_contact_in(ccari, "connected"),
                                     what="connected")
    # The agent's phone speaks from now on, whatever Asterisk sends it: a hold straight
    # after the answer takes the caller out of the call's bridge, and then Asterisk may
    # never send the agent a first packet to answer (her tone would never start, and no
    # snoop could hear her).
    assert live.agent_channel_id
    await speak(ccari, legs["agent"], live.agent_channel_id)
    return live


async def three_legs(voice_env: VoiceEnv, *, supervisor: bool = True) -> dict[str, Leg]:
    """The customer (Ada, who presses 1: sales), alice's phone and (unless not wanted) sam's."""
    legs = {
        "customer": await leg("customer", CARRIER_IP, lambda **p: media_caller(voice_env, **p),
                              hangup_after_ms=0, caller="15550199"),
        "agent": await leg("agent", PHONE_IP, lambda **p: phone(voice_env, "alice", **p)),
    }
    if supervisor:
        legs["supervisor"] = await leg("supervisor", PHONE_IP,
                                       lambda **p: phone(voice_env, "sam", **p))
    return legs


async def closed(legs: dict[str, Leg]) -> None:
    for it in legs.values():
        it.sink.close()
        with contextlib.suppress(Exception):
            await it.sipp.stop()


async def speak(rt: Runtime, it: Leg, channel_id: str) -> None:
    """The leg sends its tone now, to the channel's RTP address as Asterisk reports it (it
    would otherwise wait for Asterisk's first packet, which a quiet call never sends)."""
    assert rt.ari is not None
    host, _, port = (await rt.ari.get_var(channel_id, "CHANNEL(rtp,src)")).rpartition(":")
    it.sink.start(("127.0.0.1" if host in ("", "0.0.0.0") else host, int(port)))
