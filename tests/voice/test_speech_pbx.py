"""Spoken answers in the IVR on the real Asterisk: a SIPp caller plays espeak-ng speech as
PCMU RTP; ccari hears it through a snoop and an external media channel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from ccari.app import Runtime, internal_app, runtime
from ccari.ari.errors import AriError
from ccari.config import Config, SpeechConfig
from ccari.contacts.screenpop import screen_pop
from ccari.speech.services import SpeechService
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.support.sipp import Sipp
from tests.support.speech import PCMU_RATE, rtp_pcap, say
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.test_voice_pbx import one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


@pytest.fixture
async def ccari(voice_cfg: Config) -> AsyncIterator[Runtime]:
    async with runtime(replace(voice_cfg, speech=SpeechConfig(enabled=True))) as rt:
        yield rt


def speaking_caller(env: VoiceEnv, texts: list[str], *, voice: str = "en-us", speed: int = 150,
                    **params: object) -> Sipp:
    pcap = rtp_pcap(say(texts, rate=PCMU_RATE, encoding="mu-law", voice=voice, speed=speed))
    return Sipp("caller_speech.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                params=params, files={"speech.pcap": pcap}, timeout_s=60,
                recv_timeout_ms=30000)


async def test_a_caller_who_says_support_is_routed_to_support(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    agents = await ready(ccari, "alice", "bob")
    async with phone(voice_env, "alice") as alice, phone(voice_env, "bob") as bob:
        # "support" while the welcome prompt plays, and again after a pause as a caller does
        # who was asked again (the second goes nowhere once the first is taken); the "1"
        # (sales) keyed after both comes when the caller is already queued: only speech can
        # have routed them to support.
        call = speaking_caller(voice_env, ["support", "support"], speak_after_ms=600,
                               digits="1", dtmf_after_ms=7000, hangup_after_ms=3000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed contact")
    assert done.attributes["skill"] == "support"
    assert done.agent_id == agents["bob"].id
    # what the caller said and how sure the recogniser was: in the contact and its screen pop
    async with ccari.sessions() as s:
        pop = await screen_pop(s, done, done.ended_at or done.arrived_at)
    assert pop["ivr_said"][-1]["said"] == "support", done.meta
    assert pop["ivr_said"][-1]["confidence"] >= ccari.config.speech.min_confidence
    assert pop["ivr_digits"] == []
    assert (await bob.result()).requests.get("INVITE") == 1
    assert not (await alice.result()).requests.get("INVITE")


async def test_a_caller_in_another_voice_who_says_sales_is_routed_to_sales(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    agents = await ready(ccari, "alice", "bob")
    async with phone(voice_env, "alice") as alice, phone(voice_env, "bob") as bob:
        # Another voice and speed (female US English, 130 words a minute); the "2"
        # (support) keyed afterwards comes when the caller is already queued for sales.
        call = speaking_caller(voice_env, ["sales", "sales"], voice="en-us+f3", speed=130,
                               speak_after_ms=600, digits="2", dtmf_after_ms=7000,
                               hangup_after_ms=3000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed contact")
    assert done.attributes["skill"] == "sales", done.meta
    assert done.agent_id == agents["alice"].id
    assert [h.split(":")[:2] for h in done.meta["ivr"]] == [["said", "sales"]]
    assert (await alice.result()).requests.get("INVITE") == 1
    assert not (await bob.result()).requests.get("INVITE")


async def test_a_caller_not_understood_twice_is_asked_again_then_keys_a_digit(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    agents = await ready(ccari, "alice", "bob")
    async with phone(voice_env, "bob") as bob:
        # Two answers that are no option: each gets "not a valid option" and the menu again;
        # after the second the menu takes digits only, and "2" routes to support.
        call = speaking_caller(voice_env, ["banana pancakes", "banana pancakes"],
                               speak_after_ms=600, digits="2", dtmf_after_ms=6500,
                               hangup_after_ms=3000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed contact")
    history = done.meta["ivr"]
    assert [h.split(":")[0] for h in history] == ["said", "said", "2"], history
    assert done.attributes["skill"] == "support"
    assert done.agent_id == agents["bob"].id
    assert (await bob.result()).requests.get("INVITE") == 1


async def test_a_caller_who_hangs_up_while_listened_to_leaves_nothing_behind(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    # "#" is no option: the menu asks again, and the caller hangs up while it is listening;
    # the snoop ends with the caller, the session hangs up the rest (the fixture checks
    # that Asterisk has no channel or bridge left).
    call = speaking_caller(voice_env, ["banana pancakes"], speak_after_ms=300, digits="#",
                           dtmf_after_ms=1500, hangup_after_ms=800)
    speech = ccari.speech
    assert isinstance(speech, SpeechService)

    async def sessions() -> int:
        return len(speech.sessions)

    await call.start()
    await eventually(sessions, what="the caller listened to")
    result = await call.wait()
    assert result.ok, result.describe()
    await eventually(lambda: one_contact_in(ccari, "abandoned"), what="abandoned contact")
    await eventually(lambda: _none(sessions), what="no speech session left")


async def _none(count: Callable[[], Awaitable[int]]) -> bool:
    return await count() == 0


async def test_speech_channels_left_by_an_earlier_process_are_hung_up_on_reconcile(
    ccari: Runtime,
) -> None:
    speech, ari = ccari.speech, ccari.ari
    assert isinstance(speech, SpeechService) and ari is not None
    # what a process that died while listening leaves: the media channel and its bridge
    await ari.create_bridge("spb-gone-1")
    await ari.external_media("spm-gone-1", "127.0.0.1:9", format="slin16")
    try:
        await ari.add_channel("spb-gone-1", "spm-gone-1")
    except AriError:  # the live process may have ended the stray channel on its StasisStart
        pass
    await speech.reconcile()

    async def gone() -> bool:
        channels = {c.id for c in await ari.list_channels()}
        bridges = {b.id for b in await ari.list_bridges()}
        return "spm-gone-1" not in channels and "spb-gone-1" not in bridges

    await eventually(gone, what="the left-over speech channel and bridge gone")


@pytest.mark.browser
async def test_the_agent_sees_what_the_caller_said(ccari: Runtime, voice_env: VoiceEnv) -> None:
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    async with listening(internal_app(ccari)) as base:
        async with chromium() as browser, phone(voice_env, "bob", answer_after_ms=1500):
            page = await agent_login(await browser.new_page(), base,
                                     "bob", secrets["acme.bob.web"])
            call = speaking_caller(voice_env, ["support"], speak_after_ms=600, digits="1",
                                   dtmf_after_ms=4000, hangup_after_ms=3000)
            await call.start()
            pop = ".work-item[data-medium=voice]"
            await page.wait_for_selector(pop, timeout=20000)
            said = await page.text_content(f"{pop} .said") or ""
            assert said.startswith("\u201csupport\u201d ") and said.endswith("%"), said
            assert await page.text_content(f"{pop} .ivr") == "skill=support"
            result = await call.wait()
            assert result.ok, result.describe()
