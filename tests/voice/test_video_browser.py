"""A video call from the customer's page, on the real Asterisk (an instance of its own, where
alice answers in her browser and has a video slot).  Two Chromium pages with fake media
devices (a generated Y4M camera whose header says C420, a WAV microphone): the customer
presses Help, Video call, "Video call about sales"; the call goes through ccari's public
relay to the ccari-web endpoint (VP8 allowed), is queued as a **video** contact and rings
alice's browser phone, which answers with its camera.  Asterisk bridges the two one to one,
forwarding each stream as it comes (VP8 both sides, no transcoding): both pages decode the
other's video frames and
receive audio.  The customer then switches to audio only: her camera stops, the call goes
on with audio both ways, ccari saves an ``audio-only`` event in the contact's log and
alice's screen pop says the call is audio only.  Before alice is ready the widget offers
talk now only: "Video call" appears once an agent can take it."""

from __future__ import annotations

import contextlib
import json
import math
import struct
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app, public_app
from ccari.contacts import repo as contacts_repo
from ccari.pbx import PbxProcess
from ccari.storage.models import ContactEvent
from tests.support.browser import FAKE_MEDIA, agent_login, chromium
from tests.support.openapi import Conformances
from tests.support.sipp import free_tcp_port
from tests.support.waits import eventually
from tests.voice.browser_phone import browser_ccari, browser_pbx
from tests.voice.conftest import VoiceEnv
from tests.voice.test_voice_pbx import one_contact_in

pytestmark = [pytest.mark.pbx, pytest.mark.browser]

STATE = ".ccari-w-talk-state"
VIDEO_SLOTS = {"per_medium": {"voice": 1, "video": 1, "chat": 3}, "total": 3,
               "exclusive": ["voice"]}


def write_y4m(path: Path, width: int = 160, height: int = 120, frames: int = 30) -> None:
    """A moving picture (a bar sweeping across a gradient), 4:2:0 as Chromium's fake camera
    reads it: it takes only a header that says ``C420``."""
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420\n".encode())
        for n in range(frames):
            bar = n * width // frames
            y = bytes((255 if bar <= x < bar + 12 else (x + y0) % 200)
                      for y0 in range(height) for x in range(width))
            f.write(b"FRAME\n" + y + bytes([90]) * (width * height // 4)
                    + bytes([160]) * (width * height // 4))


def write_wav(path: Path, seconds: float = 2.0, rate: int = 48000) -> None:
    """A 440 Hz tone, mono 16-bit."""
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))


@pytest.fixture(scope="module")
def video_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    yield from browser_pbx("video", tmp_path_factory, slots=VIDEO_SLOTS)


@pytest.fixture
async def video_ccari(video_env: tuple[VoiceEnv, PbxProcess],
                      tmp_path: Path) -> AsyncIterator[Runtime]:
    async for rt in browser_ccari(video_env, tmp_path, slots=VIDEO_SLOTS):
        yield rt


@contextlib.asynccontextmanager
async def listening(rt: Runtime, conformance: Conformances) -> AsyncIterator[tuple[int, int]]:
    """The public and internal listeners, their answers held to their OpenAPI documents."""
    runners, ports = [], []
    try:
        for app in (public_app(rt), internal_app(rt)):
            conformance.watch(app)
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
            ports.append(free_tcp_port())
            await web.TCPSite(runner, "127.0.0.1", ports[-1]).start()
        yield ports[0], ports[1]
    finally:
        for runner in runners:
            await runner.cleanup()


async def _stats(page: Page, what: str) -> dict[str, Any]:
    return await page.evaluate(f"{what}.stats()") or {}  # type: ignore[no-any-return]


async def test_a_video_call_from_the_page_reaches_the_video_agent_and_can_go_audio_only(
        video_ccari: Runtime, video_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = video_ccari
    assert rt.ari is not None
    env, proc = video_env
    camera, microphone = tmp_path / "camera.y4m", tmp_path / "microphone.wav"
    write_y4m(camera)
    write_wav(microphone)
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    async with listening(rt, openapi_conformance) as (port, internal_port), chromium(
            *FAKE_MEDIA, f"--use-file-for-fake-video-capture={camera}",
            f"--use-file-for-fake-audio-capture={microphone}") as browser:
        alice = await agent_login(await browser.new_page(), f"http://127.0.0.1:{internal_port}",
                                  "alice", secrets["acme.alice.web"], ready=False)
        await alice.wait_for_selector("#webphone[data-state=registered]", timeout=15000)
        alice_id = await _agent_id(rt)
        await eventually(lambda: _true(rt.queue.phone_reachable(alice_id)),
                         what="the queue to see alice's browser phone reachable")

        # Nobody ready for video yet: the widget offers talk now only.
        customer = await browser.new_page()
        await customer.goto(f"http://127.0.0.1:{port}/demo/acme/")
        await customer.click(".ccari-w-launch")
        await customer.wait_for_selector(".ccari-w-choice[data-choice=talk]", timeout=10000)
        assert await customer.query_selector(".ccari-w-choice[data-choice=video]") is None

        await alice.click("#ready")
        await alice.wait_for_selector("#state[data-state=ready]")
        # Alice can take video now: the widget, opened again, offers it.
        await customer.click(".ccari-w-close")
        await customer.click(".ccari-w-launch")
        await customer.click(".ccari-w-choice[data-choice=video]", timeout=10000)
        await customer.click(".ccari-w-talk button[data-topic=sales]")
        await customer.wait_for_selector(f"{STATE}[data-state=in-call]", timeout=30000)

        # A video contact, offered to alice's browser phone with video.
        await alice.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await alice.click("#webphone-answer")
        await alice.wait_for_selector("#webphone[data-state=in-call]", timeout=10000)
        contact = await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
        assert contact.medium == "video" and contact.agent_id == alice_id
        assert contact.meta["origin"] == "web"
        assert "vp8" in proc.rx("pjsip show endpoint ccari-web")
        # One one-to-one bridge forwards the two parties' streams (no mixing, no transcoding).
        bridges = [b for b in await rt.ari.list_bridges() if contact.channel_id in b.channels]
        assert len(bridges) == 1 and len(bridges[0].channels) == 2, bridges
        assert bridges[0].technology in ("simple_bridge", "native_rtp"), bridges[0]

        # Video and audio both ways: each page decodes the other's frames.
        async def flowing(page: Page, what: str) -> dict[str, Any] | None:
            stats = await _stats(page, what)
            ok = stats.get("framesDecoded", 0) > 0 and stats.get("packetsReceived", 0) > 25 \
                and stats.get("totalSamplesReceived", 0) > 0
            return stats if ok else None

        seen = await eventually(lambda: flowing(customer, "window.ccariTalk"), 20,
                                "the customer's page to decode alice's video and audio")
        assert seen["videoCodec"] == "video/VP8", seen
        heard = await eventually(lambda: flowing(alice, "window.ccariPhone"), 20,
                                 "alice's page to decode the customer's video and audio")
        assert heard["videoCodec"] == "video/VP8", heard
        pop = ".work-item[data-medium=video]"
        await alice.wait_for_selector(f"{pop} dd.codec[data-video=on]", timeout=10000)
        assert "video VP8" in (await alice.text_content(f"{pop} dd.codec") or "")
        assert await alice.is_visible("#webphone-video")

        # Poor connection: the customer goes audio only; the call goes on, alice sees it.
        await customer.click(".ccari-w-audio-only")
        await alice.wait_for_selector(f"{pop} dd.codec[data-video=off]", timeout=15000)
        assert (await alice.text_content(f"{pop} dd.codec") or "").endswith("audio only")
        assert await customer.is_hidden(".ccari-w-video")
        # ccari saw the switch: saved in the contact's log, and alice's screen pop says so.
        await alice.wait_for_selector(f"{pop} dd.audio-only:not([hidden])", timeout=10000)
        events = await _events(rt, contact.id)
        assert [e.data for e in events if e.kind == "audio-only"] == [{"by": "customer"}]

        async def audio_goes_on() -> None:
            """Audio keeps arriving on both pages (25 more packets each)."""
            before = [await _stats(customer, "window.ccariTalk"),
                      await _stats(alice, "window.ccariPhone")]

            async def more() -> bool:
                after = [await _stats(customer, "window.ccariTalk"),
                         await _stats(alice, "window.ccariPhone")]
                return all(a.get("packetsReceived", 0) > b["packetsReceived"] + 25
                           for a, b in zip(after, before, strict=True))

            await eventually(more, 10, "audio to flow both ways after going audio only")

        await audio_goes_on()
        assert await customer.get_attribute(STATE, "data-state") == "in-call"
        sent = (await _stats(customer, "window.ccariTalk"))["framesSent"]
        await audio_goes_on()  # a window of the call: the camera sends no frame in it
        assert (await _stats(customer, "window.ccariTalk"))["framesSent"] == sent

        # The customer hangs up: the call ends on both pages, the contact completes.
        await customer.click(".ccari-w-hangup")
        await customer.wait_for_selector(f"{STATE}[data-state=ended]", timeout=10000)
        await alice.wait_for_selector("#webphone[data-state=registered]", timeout=10000)
        await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")


async def _agent_id(rt: Runtime) -> int:
    async with rt.sessions() as s:
        alice = await agents_repo.by_login(s, "acme", "alice")
    assert alice is not None
    return alice.id


async def _events(rt: Runtime, contact_id: str) -> list[ContactEvent]:
    async with rt.sessions() as s:
        contact = await contacts_repo.get(s, contact_id)
        assert contact is not None
        return await contacts_repo.events(s, contact.tenant_id, contact_id)


async def _true(value: object) -> bool:
    return bool(value)
