"""A video call from the customer's page that waits in the queue, on the real Asterisk (an
instance of its own with the short dead-call time of the browser tests, where alice answers
in her browser with a video slot).

The customer's video call rings alice, who declines it: it waits in the queue on the music,
alice not ready.  It waits three dead-call times and is still up (the page hears the music),
then vera (the demo's video agent) is ready and takes it: both pages decode the other's
video, and go on decoding it three dead-call times later.  (Asterisk's RTP timeout would have
cut it either way: it never sees a bundled video stream as receiving; the browser endpoints
have none, ccari watches the page's SIP websocket instead.)  A customer's page that crashes
while its call waits (no BYE, its socket gone) still ends the call at once, one whose network
is cut (its socket silent) within the dead-call time: its contact says ``caller-page-lost``
and nothing is left in Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from ccari.app import Runtime
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact
from tests.support.browser import FAKE_MEDIA, agent_login, chromium
from tests.support.netcut import cuttable
from tests.support.openapi import Conformances
from tests.support.waits import eventually
from tests.voice.browser_phone import DEAD_CALL_S, browser_ccari, browser_pbx
from tests.voice.conftest import VoiceEnv, pbx_counts
from tests.voice.test_video_browser import (
    STATE,
    VIDEO_SLOTS,
    _events,
    _stats,
    listening,
    write_wav,
    write_y4m,
)
from tests.voice.test_video_transfer_browser import _agent_id, _decoding, _registered, video_goes_on
from tests.voice.test_voice_pbx import contacts, one_contact_in

pytestmark = [pytest.mark.pbx, pytest.mark.browser]

#: How long the call waits on the music, and then talks: well past the dead-call time.
WAIT_S = 3 * DEAD_CALL_S


@pytest.fixture(scope="module")
def vwait_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    yield from browser_pbx("vwait", tmp_path_factory, slots=VIDEO_SLOTS)


@pytest.fixture
async def vwait_ccari(vwait_env: tuple[VoiceEnv, PbxProcess],
                      tmp_path: Path) -> AsyncIterator[Runtime]:
    async for rt in browser_ccari(vwait_env, tmp_path, slots=VIDEO_SLOTS):
        yield rt


@contextlib.asynccontextmanager
async def waiting_video_call(rt: Runtime, env: VoiceEnv, tmp_path: Path,
                             conformance: Conformances, cut: asyncio.Event | None = None
                             ) -> AsyncIterator[dict[str, Page]]:
    """The customer's video call from the help widget, declined by alice: back in the queue
    on the music, alice not ready; vera logged in, not ready.  The pages by name.  ``cut``:
    the customer's page reaches ccari through a link that setting it cuts."""
    camera, microphone = tmp_path / "camera.y4m", tmp_path / "microphone.wav"
    write_y4m(camera)
    write_wav(microphone)
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    async with listening(rt, conformance) as (port, internal_port), cuttable(port) as link, \
            chromium(*FAKE_MEDIA, f"--use-file-for-fake-video-capture={camera}",
                     f"--use-file-for-fake-audio-capture={microphone}") as browser:
        if cut is not None:
            link.cut, port = cut, link.port
        alice, vera = [await agent_login(await (await browser.new_context()).new_page(),
                                         f"http://127.0.0.1:{internal_port}", name,
                                         secrets[f"acme.{name}.web"], ready=False)
                       for name in ("alice", "vera")]
        await _registered(rt, alice, await _agent_id(rt, "alice"))
        await _registered(rt, vera, await _agent_id(rt, "vera"))
        await alice.click("#ready")
        await alice.wait_for_selector("#state[data-state=ready]")

        customer = await (await browser.new_context()).new_page()
        await customer.goto(f"http://127.0.0.1:{port}/demo/acme/")
        await customer.click(".ccari-w-launch")
        await customer.click(".ccari-w-choice[data-choice=video]", timeout=10000)
        await customer.click(".ccari-w-talk button[data-topic=sales]")
        await alice.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await alice.click("#webphone-decline")
        await alice.wait_for_selector("#state[data-state=not_ready]", timeout=10000)
        waiting = await eventually(lambda: one_contact_in(rt, "queued"), 10,
                                   "the call to wait in the queue again")
        assert waiting.medium == "video"
        yield {"alice": alice, "vera": vera, "customer": customer}


async def _hears_more(page: Page, than: int) -> dict[str, int] | None:
    stats = await _stats(page, "window.ccariTalk")
    return stats if stats.get("packetsReceived", 0) > than + 25 else None


async def test_a_video_call_waits_on_the_music_past_the_dead_call_time_then_an_agent_takes_it(
        vwait_ccari: Runtime, vwait_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vwait_ccari
    assert rt.ari is not None
    async with waiting_video_call(rt, vwait_env[0], tmp_path, openapi_conformance) as pages:
        vera, customer = pages["vera"], pages["customer"]
        waiting = await one_contact_in(rt, "queued")
        assert waiting is not None
        heard = (await _stats(customer, "window.ccariTalk"))["packetsReceived"]

        await asyncio.sleep(WAIT_S)  # the wait on the music: three dead-call times

        still = await one_contact_in(rt, "queued")
        assert still is not None and still.id == waiting.id, await contacts(rt)
        assert still.channel_id in {c.id for c in await rt.ari.list_channels()}
        assert await customer.get_attribute(STATE, "data-state") == "in-call"
        await eventually(lambda: _hears_more(customer, heard), 10, "the page to hear the music")

        # vera is ready and takes it: both pages decode the other's video.
        await vera.click("#ready")
        await vera.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
        await vera.click("#webphone-answer")
        await vera.wait_for_selector("#webphone[data-state=in-call]", timeout=10000)
        talking = await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
        assert talking.id == waiting.id and talking.medium == "video"
        assert talking.agent_id == await _agent_id(rt, "vera")
        both = ((customer, "window.ccariTalk"), (vera, "window.ccariPhone"))
        for page, what in both:
            seen = await eventually(lambda page=page, what=what: _decoding(page, what), 20,
                                    f"{what} to decode the other's video")
            assert seen["videoCodec"] == "video/VP8", seen

        await asyncio.sleep(WAIT_S)  # the conversation, past the dead-call time too

        assert await one_contact_in(rt, "connected") is not None, await contacts(rt)
        await video_goes_on(*both)

        await customer.click(".ccari-w-hangup")
        await customer.wait_for_selector(f"{STATE}[data-state=ended]", timeout=10000)
        await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")


async def _lost_page(rt: Runtime) -> Contact | None:
    rows = await contacts(rt)
    return rows[0] if len(rows) == 1 and rows[0].disposition == "caller-page-lost" else None


async def _nothing_left(proc: PbxProcess) -> None:
    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    await eventually(clean, 15, "Asterisk to have no channel and no bridge left")


async def test_a_customer_page_that_crashes_while_its_video_call_waits_ends_the_call(
        vwait_ccari: Runtime, vwait_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    rt = vwait_ccari
    env, proc = vwait_env
    async with waiting_video_call(rt, env, tmp_path, openapi_conformance) as pages:
        # The renderer crashes: no BYE, no pagehide; its SIP websocket goes with it.
        with contextlib.suppress(PlaywrightError):
            await pages["customer"].goto("chrome://crash", timeout=5000)

        gone = await eventually(lambda: _lost_page(rt), DEAD_CALL_S + 10,
                                "the call to end without its page")
        assert gone.state == "abandoned" and gone.medium == "video"
        logged = [e.data for e in await _events(rt, gone.id) if e.kind == "caller-page-lost"]
        assert [d["cause"] for d in logged] == [38], logged  # "Network out of order"
        await _nothing_left(proc)


async def test_a_customer_page_whose_network_is_cut_while_its_video_call_waits_loses_it(
        vwait_ccari: Runtime, vwait_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    """Nothing closes: the page's SIP websocket just goes silent (its media to Asterisk may
    even go on); within the dead-call time the call is ended as the page's."""
    rt = vwait_ccari
    env, proc = vwait_env
    cut = asyncio.Event()
    async with waiting_video_call(rt, env, tmp_path, openapi_conformance, cut):
        cut.set()
        at = asyncio.get_running_loop().time()
        gone = await eventually(lambda: _lost_page(rt), DEAD_CALL_S + 10,
                                "the call to end without its page's network")
        assert asyncio.get_running_loop().time() - at >= DEAD_CALL_S - 1  # silent, not closed
        assert gone.state == "abandoned" and gone.medium == "video"
        await _nothing_left(proc)
