"""The agent page as the agent's phone, on the real Asterisk (an instance of its own, where
alice's device is "browser"): Chromium with fake media logs alice in, its JsSIP registers
through ccari's websocket relay with the SIP password of this login, a SIPp carrier call
rings the page, alice answers, audio flows both ways over DTLS-SRTP, the phone shows the codec
and bitrates and its mute silences her microphone, her keypad's digit
reaches the caller, and her hang-up ends the call with no channel left.  A page that dies
mid-call (closed, reloaded or crashed) ends the call at once as ``agent-page-lost``, leaves
alice not ready and nothing in Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app
from ccari.pbx import PbxProcess
from ccari.storage.models import ContactEvent
from tests.support.browser import FAKE_MEDIA, agent_login, chromium
from tests.support.openapi import Conformances
from tests.support.sipp import free_tcp_port
from tests.support.waits import eventually
from tests.voice.browser_phone import DEAD_CALL_S, browser_ccari, browser_pbx
from tests.voice.conftest import CARRIER_IP, VoiceEnv
from tests.voice.media import Leg, leg, media_caller
from tests.voice.test_voice_pbx import one_contact_in

pytestmark = [pytest.mark.pbx, pytest.mark.browser]



@pytest.fixture(scope="module")
def webrtc_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    yield from browser_pbx("webrtc", tmp_path_factory)


@pytest.fixture
async def webrtc_ccari(webrtc_env: tuple[VoiceEnv, PbxProcess],
                       tmp_path: Path) -> AsyncIterator[Runtime]:
    async for rt in browser_ccari(webrtc_env, tmp_path):
        yield rt


async def _stats(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.ccariPhone.stats()") or {}  # type: ignore[no-any-return]


@dataclass
class Call:
    rt: Runtime
    page: Page
    customer: Leg


@contextlib.asynccontextmanager
async def answered_call(rt: Runtime, env: VoiceEnv, proc: PbxProcess,
                        conformance: Conformances) -> AsyncIterator[Call]:
    """Alice logs in with Chromium (fake media), her page registers, a carrier caller who
    presses 1 (sales) rings it, and she answers: a connected call.  The internal listener's
    answers are held to its OpenAPI document."""
    assert rt.ari is not None
    port = free_tcp_port()
    app = internal_app(rt)
    conformance.watch(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
    customer = await leg("customer", CARRIER_IP, lambda **p: media_caller(env, **p),
                         hangup_after_ms=0, caller="15550199")
    # No page, no phone: Asterisk has no contact for alice, so the queue offers her no call.
    states = {e.resource: e.state for e in await rt.ari.list_endpoints()}
    assert states["acme-alice"] == "offline", states
    try:
        async with chromium(*FAKE_MEDIA) as browser:
            page = await agent_login(await browser.new_page(), f"http://127.0.0.1:{port}",
                                     "alice", secrets["acme.alice.web"], ready=False)
            # The login gave alice's endpoint a new SIP password; the page registers with it.
            await page.wait_for_selector("#webphone[data-state=registered]", timeout=15000)
            async with rt.sessions() as s:
                alice = await agents_repo.by_login(s, "acme", "alice")
            assert alice is not None and alice.phone_password != secrets["acme.alice.sip"]
            shown = proc.rx("pjsip show auth acme-alice")  # Asterisk has this login's password
            assert re.search(rf"password\s*:\s*{re.escape(alice.phone_password)}\s", shown), shown
            await eventually(lambda: _true(rt.queue.phone_reachable(alice.id)),
                             what="the queue to see alice's browser phone reachable")
            await page.click("#ready")
            await page.wait_for_selector("#state[data-state=ready]")

            await customer.sipp.start()
            await eventually(lambda: _true(customer.sink.remote), what="the IVR's first words")
            customer.sink.press("1")  # sales: alice
            await page.wait_for_selector("#webphone[data-state=ringing]", timeout=20000)
            await page.click("#webphone-answer")
            await page.wait_for_selector("#webphone[data-state=in-call]", timeout=10000)
            await eventually(lambda: one_contact_in(rt, "connected"), what="connected")
            yield Call(rt, page, customer)
    finally:
        customer.sink.close()
        if customer.sipp.pid is not None:
            await customer.sipp.stop()
        await runner.cleanup()


async def test_a_carrier_call_rings_the_browser_phone_which_answers_speaks_and_hangs_up(
        webrtc_ccari: Runtime, webrtc_env: tuple[VoiceEnv, PbxProcess],
        openapi_conformance: Conformances) -> None:
    rt = webrtc_ccari
    assert rt.ari is not None
    async with answered_call(rt, *webrtc_env, openapi_conformance) as call:
        page, customer = call.page, call.customer
        # ARI: one bridge holds the caller's channel and alice's PJSIP channel.
        channels = {c.id: c.name for c in await rt.ari.list_channels()}
        bridged = [[channels.get(c, "") for c in b.channels]
                   for b in await rt.ari.list_bridges()]
        assert any(len(names) == 2 and any(n.startswith("PJSIP/acme-alice-") for n in names)
                   for names in bridged), (bridged, channels)

        # Audio both ways: the caller's tone decoded by the page, the page's to the caller.
        heard_before = len(customer.sink.packets)

        async def page_hears() -> dict[str, Any] | None:
            stats = await _stats(page)
            ok = stats.get("bytesReceived", 0) > 0 and stats.get("packetsReceived", 0) > 25 \
                and stats.get("totalSamplesReceived", 0) > 0 and stats.get("packetsSent", 0) > 25
            return stats if ok else None

        stats = await eventually(page_hears, 10, "the page to receive and send audio")
        assert stats["codec"] == "audio/PCMU", stats  # the carrier's codec: no transcoding
        await eventually(lambda: _true(len(customer.sink.packets) > heard_before + 25),
                         what="the caller to receive the page's audio")

        # The phone shows the codec and the bitrates in use (G.711: 64 kbit/s of payload).
        media = page.locator("#webphone-media")

        async def shown() -> str | None:
            text = await media.text_content() or ""
            return text if "kbit/s in" in text else None

        line = await eventually(shown, 10, "the phone to show the codec and bitrates")
        assert line.startswith("PCMU · "), line
        rate_in = int(re.search(r"(\d+) kbit/s in", line).group(1))  # type: ignore[union-attr]
        assert 60 <= rate_in <= 110, line  # 64 kbit/s of audio plus the packets' headers

        # Mute: the caller hears silence from the page's microphone, then sound again.
        async def loudness(seconds: float = 1.5, settle: float = 0.3) -> float:
            """The caller's received audio over a window that starts once the packets
            already on their way have arrived (a sampling window, not a wait for a state)."""
            since = time.monotonic() + settle
            await asyncio.sleep(settle + seconds)
            samples = customer.sink.samples(since, time.monotonic())
            return sum(abs(x) for x in samples) / max(1, len(samples))

        assert await loudness(settle=0) > 100  # Chromium's fake microphone beeps (about 700)
        await page.click("#webphone-mute")
        await page.wait_for_selector("#webphone[data-muted=true]", timeout=5000)
        assert await loudness() < 5  # silence (0 here)
        await page.click("#webphone-mute")
        await page.wait_for_selector("#webphone[data-muted=false]", timeout=5000)
        assert await loudness() > 100

        # The keypad: the digit reaches the caller as an RFC 4733 event.
        await page.click("#webphone-keypad button:text-is('5')")
        await eventually(lambda: _true("5" in customer.sink.digits),
                         what="the caller to receive alice's digit")

        # The call controls of the work item work on a browser phone's call as on any other.
        pop = ".work-item[data-medium=voice]"
        await page.click(f"{pop} .hold")
        await page.wait_for_selector(f"{pop}[data-status=held]", timeout=5000)
        await page.click(f"{pop} .resume")
        await page.wait_for_selector(f"{pop}[data-status=connected]", timeout=5000)

        # Alice hangs up: the caller gets its BYE, the page is ready for the next call.
        await page.click("#webphone-hangup")
        await page.wait_for_selector("#webphone[data-state=registered]", timeout=10000)
        result = await customer.sipp.wait()
        assert result.ok, result.describe()
        await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")


@pytest.mark.parametrize("how", ["close", "crash", "reload"])
async def test_a_page_lost_mid_call_ends_the_call_at_once_and_makes_the_agent_not_ready(
        webrtc_ccari: Runtime, webrtc_env: tuple[VoiceEnv, PbxProcess],
        openapi_conformance: Conformances, how: str) -> None:
    rt = webrtc_ccari
    assert rt.ari is not None
    async with answered_call(rt, *webrtc_env, openapi_conformance) as call:
        async with rt.sessions() as s:
            alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        started = time.monotonic()
        if how == "crash":  # the renderer dies: no BYE, no unload handler, the media stops
            with contextlib.suppress(PlaywrightError):
                await call.page.goto("chrome://crash", timeout=5000)
        elif how == "close":  # the agent closes her page (its unload handler runs)
            await call.page.close()
        else:  # the agent reloads her page: it goes, and comes back
            await call.page.reload()
        # The caller gets its BYE at once, well before the RTP timeout would end the call.
        result = await call.customer.sipp.wait()
        assert result.ok, result.describe()
        took = time.monotonic() - started
        assert took < DEAD_CALL_S / 2, f"the call outlived the page by {took:.1f} s"
        contact = await eventually(lambda: one_contact_in(rt, "completed"),
                                   what="the contact to end")
        assert contact.disposition == "agent-page-lost", contact.disposition
        async with rt.sessions() as s:
            ended = await s.scalar(select(ContactEvent).where(
                ContactEvent.contact_id == contact.id, ContactEvent.kind == "completed"))
        assert ended is not None and ended.data["disposition"] == "agent-page-lost", ended
        # She is not offered the next call until she is back and says she is ready.
        assert rt.queue.agent_state(alice.id) == "not_ready"
        # Nothing is left in Asterisk: not her leg, not the caller's, not the bridge.
        await eventually(lambda: _nothing_left(rt), 5, "no channel and no bridge left")
        if how == "reload":
            page = call.page
            await page.wait_for_selector("#webphone[data-state=registered]", timeout=15000)
            await page.wait_for_selector("#state[data-state=not_ready]", timeout=5000)


async def _nothing_left(rt: Runtime) -> bool:
    assert rt.ari is not None
    return not await rt.ari.list_channels() and not await rt.ari.list_bridges()


async def _true(value: object) -> bool:
    return bool(value)
