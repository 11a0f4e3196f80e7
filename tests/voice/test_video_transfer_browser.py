"""A video call through a blind transfer and under supervision, on the real Asterisk (an
instance of its own, where alice answers in her browser with a video slot, and vera is the
demo's video agent).
Chromium pages with fake media devices: the customer's video call from the help widget
reaches alice.  Her transfer to bob (a SIP phone agent) is refused with
``agent-cannot-take-video`` and the call stays with her; her transfer to vera rings vera's
browser phone with video, and once vera answers her page decodes the customer's video and
the customer's page decodes vera's (a stream that Asterisk sends under the SSRC of alice's:
the page gets a fresh receiver for it when its frames do not decode).
Sam's SIP phone listens to the call, then barges in (audio only: a snoop, then his phone in
the call's bridge): the customer's and alice's pages go on decoding each other's video.
Nothing is left in Asterisk afterwards.
Alice consults vera on the call: the two see each other while the customer waits; as a
three-way call everyone goes on decoding video; completed, the customer and vera see each
other.  A consult with bob's SIP phone is audio, and cannot be completed to him."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.pbx import PbxProcess
from tests.support.browser import FAKE_MEDIA, agent_login, chromium
from tests.support.openapi import Conformances
from tests.support.waits import eventually
from tests.voice.browser_phone import browser_ccari, browser_pbx
from tests.voice.conftest import VoiceEnv
from tests.voice.test_video_browser import (
    STATE,
    VIDEO_SLOTS,
    _stats,
    listening,
    write_wav,
    write_y4m,
)
from tests.voice.test_voice_pbx import one_contact_in, phone

pytestmark = [pytest.mark.pbx, pytest.mark.browser]

POP = ".work-item[data-medium=video]"


@pytest.fixture(scope="module")
def vxfer_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    yield from browser_pbx("vxfer", tmp_path_factory, slots=VIDEO_SLOTS)


@pytest.fixture
async def vxfer_ccari(vxfer_env: tuple[VoiceEnv, PbxProcess],
                      tmp_path: Path) -> AsyncIterator[Runtime]:
    async for rt in browser_ccari(vxfer_env, tmp_path, slots=VIDEO_SLOTS):
        yield rt


async def _agent_id(rt: Runtime, username: str) -> int:
    async with rt.sessions() as s:
        agent = await agents_repo.by_login(s, "acme", username)
    assert agent is not None
    return agent.id


async def _registered(rt: Runtime, page: Page, agent_id: int) -> None:
    await page.wait_for_selector("#webphone[data-state=registered]", timeout=15000)

    async def reachable() -> bool:
        return bool(rt.queue.phone_reachable(agent_id))

    await eventually(reachable, what="the queue to see the browser phone reachable")


async def _ready(rt: Runtime, page: Page, name: str) -> None:
    """Her browser phone registered (the queue sees it), then Ready pressed."""
    await _registered(rt, page, await _agent_id(rt, name))
    await page.click("#ready")
    await page.wait_for_selector("#state[data-state=ready]")


async def _to_colleague(alice: Page, name: str, button: str) -> None:
    """Alice names a colleague in her pop and presses ``button`` (transfer, consult...)."""
    await alice.select_option(f"{POP} .transfer-kind", "agent")
    await alice.fill(f"{POP} .transfer-to", name)
    await alice.click(f"{POP} .{button}")


def _reachable(proc: PbxProcess, endpoint: str) -> Callable[[], Awaitable[bool]]:
    """Does Asterisk see the SIP phone ``endpoint`` answer its qualify (every 3 s here)?"""

    async def check() -> bool:
        return endpoint in "".join(line for line in proc.rx("pjsip show contacts").splitlines()
                                   if "Avail" in line)

    return check


async def _decoding(page: Page, what: str, more_than: int = 0) -> dict[str, Any] | None:
    """The page's stats once it has decoded more than ``more_than`` video frames in all."""
    stats = await _stats(page, what)
    return stats if stats.get("framesDecoded", 0) > more_than else None


@contextlib.asynccontextmanager
async def video_call_to_alice(rt: Runtime, env: VoiceEnv, tmp_path: Path,
                              conformance: Conformances, *others: str
                              ) -> AsyncIterator[dict[str, Page]]:
    """The customer's video call from the help widget, answered by alice in her browser;
    ``others`` logged in meanwhile, not ready.  The pages by name; the customer hangs up at
    the end and the contact completes."""
    camera, microphone = tmp_path / "camera.y4m", tmp_path / "microphone.wav"
    write_y4m(camera)
    write_wav(microphone)
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    alice_id = await _agent_id(rt, "alice")
    async with listening(rt, conformance) as (port, internal_port), chromium(
            *FAKE_MEDIA, f"--use-file-for-fake-video-capture={camera}",
            f"--use-file-for-fake-audio-capture={microphone}") as browser:
        base = f"http://127.0.0.1:{internal_port}"
        pages = {name: await agent_login(await (await browser.new_context()).new_page(), base,
                                         name, secrets[f"acme.{name}.web"], ready=False)
                 for name in ("alice", *others)}
        alice = pages["alice"]
        await _registered(rt, alice, alice_id)
        await alice.click("#ready")
        await alice.wait_for_selector("#state[data-state=ready]")

        customer = pages["customer"] = await (await browser.new_context()).new_page()
        await customer.goto(f"http://127.0.0.1:{port}/demo/acme/")
        await customer.click(".ccari-w-launch")
        await customer.click(".ccari-w-choice[data-choice=video]", timeout=10000)
        await customer.click(".ccari-w-talk button[data-topic=sales]")
        await alice.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await alice.click("#webphone-answer")
        contact = await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
        assert contact.medium == "video" and contact.agent_id == alice_id
        await eventually(lambda: _decoding(customer, "window.ccariTalk"), 20,
                         "the customer's page to decode alice's video")
        yield pages
        await customer.click(".ccari-w-hangup")
        await customer.wait_for_selector(f"{STATE}[data-state=ended]", timeout=10000)
        await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")


async def test_a_video_call_transferred_goes_on_with_video_only_to_a_video_agent(
        vxfer_ccari: Runtime, vxfer_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vxfer_ccari
    alice_id, vera_id = await _agent_id(rt, "alice"), await _agent_id(rt, "vera")
    async with video_call_to_alice(rt, vxfer_env[0], tmp_path, openapi_conformance,
                                   "vera") as pages:
        alice, vera, customer = pages["alice"], pages["vera"], pages["customer"]
        await _registered(rt, vera, vera_id)

        # bob's phone is a SIP phone: a video call cannot go to him; it stays with alice.
        await _to_colleague(alice, "bob", "transfer")
        await alice.wait_for_selector("#conn:text('agent-cannot-take-video')", timeout=10000)
        still = await one_contact_in(rt, "connected")
        assert still is not None and still.agent_id == alice_id
        assert await alice.get_attribute("#webphone", "data-state") == "in-call"

        # To vera, the video agent: her browser phone rings, the call is still a video call.
        await vera.click("#ready")
        await vera.wait_for_selector("#state[data-state=ready]")
        await _to_colleague(alice, "vera", "transfer")
        await vera.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await alice.wait_for_selector("#webphone[data-state=registered]", timeout=10000)
        await vera.click("#webphone-answer")
        await vera.wait_for_selector("#webphone[data-state=in-call]", timeout=10000)
        moved = await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
        assert moved.medium == "video" and moved.agent_id == vera_id

        # Vera's leg was rung with video: she decodes the customer's camera.
        heard = await eventually(lambda: _decoding(vera, "window.ccariPhone"), 20,
                                 "vera's page to decode the customer's video")
        assert heard["videoCodec"] == "video/VP8", heard
        await vera.wait_for_selector(f"{POP} dd.codec[data-video=on]", timeout=10000)
        # And the customer's page decodes vera's video: alice's leg is gone, vera's browser
        # alone sends video into the call now.
        assert await alice.get_attribute("#webphone", "data-state") == "registered"
        seen = await video_goes_on((customer, "window.ccariTalk"))
        assert seen[0]["videoCodec"] == "video/VP8", seen


async def vp8_goes_on(*pages: tuple[Page, str]) -> None:
    """As :func:`video_goes_on`, each page decoding VP8."""
    seen = await video_goes_on(*pages)
    assert all(s["videoCodec"] == "video/VP8" for s in seen), seen


async def video_goes_on(*pages: tuple[Page, str], frames: int = 10) -> list[dict[str, Any]]:
    """Each page (with its stats object) decodes ``frames`` more video frames from now on;
    their last stats.  Counted across a fresh receiver (the customer's page may make one for
    the agent's video), whose count starts again from 0."""
    seen = []
    for page, what in pages:
        last = (await _stats(page, what))["framesDecoded"]
        more = 0

        async def decoded(page: Page = page, what: str = what) -> dict[str, Any] | None:
            nonlocal last, more
            stats = await _stats(page, what)
            now = stats.get("framesDecoded", 0)
            more += now - last if now >= last else now
            last = now
            return stats if more >= frames else None

        seen.append(await eventually(decoded, 20, f"{what} on {page.url} to go on decoding "
                                               f"video (after {last} frames)"))
    return seen


async def test_a_supervisor_listens_and_barges_on_a_video_call_and_the_video_goes_on(
        vxfer_ccari: Runtime, vxfer_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vxfer_ccari
    assert rt.ari is not None
    env, proc = vxfer_env

    # sam's phone answers qualify: the PBX of these tests checks phones every 3 s.
    async with phone(env, "sam", "agent_qualify.xml"), video_call_to_alice(
            rt, env, tmp_path, openapi_conformance, "sam") as pages:
        await eventually(_reachable(proc, "acme-sam"), what="sam's phone reachable")
        alice, sam, customer = pages["alice"], pages["sam"], pages["customer"]
        live = await one_contact_in(rt, "connected")
        assert live is not None and live.bridge_id
        await sam.goto(sam.url.split("/agent")[0] + "/supervisor")
        row = f"#calls tbody tr[data-contact='{live.id}']"
        await sam.wait_for_selector(f"{row}[data-state=connected]", timeout=10000)
        both = ((customer, "window.ccariTalk"), (alice, "window.ccariPhone"))

        await sam.click(f"{row} .monitor-listen")
        await sam.wait_for_selector(
            f"{row} .monitors:text('Sam Supervisor: listen (connected)')", timeout=15000)
        await video_goes_on(*both)

        await sam.click(f"{row} .monitor-barge")
        await sam.wait_for_selector(f"{row} .monitors:text('barge')", timeout=10000)

        async def in_the_call() -> bool:
            channels = (await rt.ari.get_bridge(live.bridge_id or "")).channels
            return len(channels) == 3 and any(c.startswith("sup-") for c in channels)

        await eventually(in_the_call, what="sam's phone in the call's bridge")
        await video_goes_on(*both)

        await sam.click(f"{row} .monitor-stop")

        async def no_session() -> bool:
            return not any(c.id.startswith(("sup-", "snoop-"))
                           for c in await rt.ari.list_channels())

        await eventually(no_session, what="sam's phone gone")


@pytest.fixture
async def vera_call(vxfer_ccari: Runtime, vxfer_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
                    openapi_conformance: Conformances) -> AsyncIterator[dict[str, Page]]:
    """The customer's video call answered by alice, vera logged in (not ready)."""
    async with video_call_to_alice(vxfer_ccari, vxfer_env[0], tmp_path, openapi_conformance,
                                   "vera") as pages:
        yield pages


async def _consult_vera(rt: Runtime, pages: dict[str, Page]) -> None:
    """Alice consults vera by name on the video call; vera answers in her browser phone and
    the two decode each other's video while the customer waits with the music."""
    alice, vera = pages["alice"], pages["vera"]
    await _ready(rt, vera, "vera")
    await _to_colleague(alice, "vera", "consult")
    await vera.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
    await vera.click("#webphone-answer")
    await alice.wait_for_selector(f"{POP}[data-consult=talking]", timeout=10000)
    await vp8_goes_on((vera, "window.ccariPhone"), (alice, "window.ccariPhone"))


async def test_a_video_consult_shows_the_colleague_and_a_three_way_call_keeps_the_video(
        vxfer_ccari: Runtime, vera_call: dict[str, Page]) -> None:
    rt, pages = vxfer_ccari, vera_call
    assert rt.ari is not None
    alice, vera, customer = pages["alice"], pages["vera"], pages["customer"]
    live = await one_contact_in(rt, "connected")
    assert live is not None and live.bridge_id
    await _consult_vera(rt, pages)

    await alice.click(f"{POP} .consult-conference")
    await alice.wait_for_selector(f"{POP}[data-consult=three-way]", timeout=5000)

    async def three() -> bool:
        return len((await rt.ari.get_bridge(live.bridge_id or "")).channels) == 3

    await eventually(three, what="three in the call's bridge")
    # Everyone in the three-way call goes on seeing video.
    await video_goes_on((customer, "window.ccariTalk"), (alice, "window.ccariPhone"),
                        (vera, "window.ccariPhone"))


async def test_a_completed_video_consult_leaves_the_customer_and_the_colleague_on_video(
        vxfer_ccari: Runtime, vera_call: dict[str, Page]) -> None:
    rt, pages = vxfer_ccari, vera_call
    assert rt.ari is not None
    alice, vera, customer = pages["alice"], pages["vera"], pages["customer"]
    await _consult_vera(rt, pages)
    await alice.click(f"{POP} .consult-complete")
    await alice.wait_for_selector("#webphone[data-state=registered]", timeout=10000)
    await vera.wait_for_selector(f"{POP}", timeout=10000)
    moved = await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
    assert moved.medium == "video"
    assert moved.agent_id == await _agent_id(rt, "alice")  # who took it, as any consult
    await vp8_goes_on((customer, "window.ccariTalk"), (vera, "window.ccariPhone"))


async def test_a_video_call_consult_with_a_sip_phone_colleague_cannot_be_completed_to_him(
        vxfer_ccari: Runtime, vxfer_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vxfer_ccari
    env, proc = vxfer_env

    async with phone(env, "bob", "agent_qualify.xml"), video_call_to_alice(
            rt, env, tmp_path, openapi_conformance, "bob") as pages:
        await eventually(_reachable(proc, "acme-bob"), what="bob's phone reachable")
        alice, bob, customer = pages["alice"], pages["bob"], pages["customer"]
        await bob.click("#ready")
        await bob.wait_for_selector("#state[data-state=ready]")
        # Alice may ask bob a question (his SIP phone: audio) ...
        await _to_colleague(alice, "bob", "consult")
        await alice.wait_for_selector(f"{POP}[data-consult=talking]", timeout=15000)
        # ... but not hand him the video call: it stays a video call, with her.
        await alice.click(f"{POP} .consult-complete")
        await alice.wait_for_selector("#conn:text('agent-cannot-take-video')", timeout=10000)
        assert await alice.get_attribute(POP, "data-consult") == "talking"
        await alice.click(f"{POP} .consult-cancel")
        await alice.wait_for_selector(f"{POP} .transfer", timeout=5000)
        live = await one_contact_in(rt, "connected")
        assert live is not None and live.agent_id == await _agent_id(rt, "alice")
        await video_goes_on((customer, "window.ccariTalk"), (alice, "window.ccariPhone"))


async def test_a_colleague_added_to_a_video_call_joins_with_video_and_keeps_it_when_alice_leaves(
        vxfer_ccari: Runtime, vera_call: dict[str, Page]) -> None:
    rt, pages = vxfer_ccari, vera_call
    assert rt.ari is not None
    alice, vera, customer = pages["alice"], pages["vera"], pages["customer"]
    live = await one_contact_in(rt, "connected")
    assert live is not None
    await _ready(rt, vera, "vera")
    await _to_colleague(alice, "vera", "conference-add")
    await vera.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
    await vera.click("#webphone-answer")
    party = f"{POP} .conference-parties li[data-party='cnf-{live.id}-1']"
    await alice.wait_for_selector(f"{party}[data-state=joined]", timeout=10000)
    await video_goes_on((customer, "window.ccariTalk"), (alice, "window.ccariPhone"),
                        (vera, "window.ccariPhone"))
    # Alice leaves the call to the customer and vera: the two see each other.
    await alice.click(f"{POP} .conference-leave")
    await alice.wait_for_selector("#webphone[data-state=registered]", timeout=10000)
    await video_goes_on((customer, "window.ccariTalk"), (vera, "window.ccariPhone"))


async def test_a_supervisor_with_video_takes_over_a_video_call_and_goes_on_with_video(
        vxfer_ccari: Runtime, vxfer_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vxfer_ccari
    async with rt.sessions() as s:  # vera supervises too (her phone: the agent page, video)
        vera_row = await agents_repo.by_login(s, "acme", "vera")
        assert vera_row is not None
        vera_row.role = "supervisor"
        await s.commit()
    async with video_call_to_alice(rt, vxfer_env[0], tmp_path, openapi_conformance,
                                   "vera") as pages:
        alice, vera, customer = pages["alice"], pages["vera"], pages["customer"]
        await _registered(rt, vera, await _agent_id(rt, "vera"))
        live = await one_contact_in(rt, "connected")
        assert live is not None
        # Her supervisor page in another tab; her phone rings in the agent page.
        board = await vera.context.new_page()
        await board.goto(vera.url.split("/agent")[0] + "/supervisor")
        row = f"#calls tbody tr[data-contact='{live.id}']"
        await board.wait_for_selector(f"{row}[data-state=connected]", timeout=10000)
        await board.click(f"{row} .monitor-take_over")
        await vera.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await vera.click("#webphone-answer")
        await alice.wait_for_selector("#webphone[data-state=registered]", timeout=15000)
        await vp8_goes_on((customer, "window.ccariTalk"), (vera, "window.ccariPhone"))
        await board.close()
