"""Talk now on the real Asterisk: Chromium (fake media) opens the acme demo page on the
public listener, presses Help, Talk now, "Talk about sales"; the call goes through ccari's
public SIP relay to the ccari-web endpoint, into Stasis as a web call, is queued and rings
alice's SIPp phone, which answers.  Audio flows both ways (the page's getStats(), the
phone's socket), the contact is a voice contact from the web with the page's URL, and the
call ends cleanly whoever hangs up (the fixture fails a test that leaves a channel).
alice's agent page shows the call came from the web, with the page's URL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.config import PbxConfig
from ccari.contacts.screenpop import screen_pop
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact
from tests.support.browser import FAKE_MEDIA, agent_login, chromium
from tests.support.openapi import Conformances
from tests.support.pbx import start_from_db
from tests.support.sipp import free_port, free_tcp_port
from tests.voice.conftest import CARRIER_IP, PHONE_IP, PHONES, VoiceEnv, eventually, pbx_counts, prepare_db
from tests.voice.media import Leg, leg, speak
from tests.voice.test_voice_pbx import contacts, one_contact_in, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
STATE = ".ccari-w-talk-state"


@dataclass
class Talk:
    page: Page
    agent: Leg
    contact: Contact
    page_url: str
    agent_page: Page | None


async def _stats(page: Page) -> dict[str, Any]:
    return await page.evaluate("window.ccariTalk.stats()") or {}  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def talking(rt: Runtime, env: VoiceEnv, conformance: Conformances, *,
                  agent_page: bool = False, **agent_params: Any) -> AsyncIterator[Talk]:
    """The customer's page calls, alice's phone answers: a connected web call.  With
    ``agent_page`` alice is logged in on the agent page (and goes ready there)."""
    runners = []
    ports = []
    for app in (public_app(rt), internal_app(rt)):
        conformance.watch(app)
        runner = web.AppRunner(app)
        await runner.setup()
        ports.append(free_tcp_port())
        await web.TCPSite(runner, "127.0.0.1", ports[-1]).start()
        runners.append(runner)
    port, internal_port = ports
    agent = await leg("agent", PHONE_IP, lambda **p: phone(env, "alice", **p), **agent_params)
    await agent.sipp.start()
    try:
        async with chromium(*FAKE_MEDIA) as browser:
            alice = None
            if agent_page:
                secrets = json.loads((env.state_dir / "demo-secrets.json").read_text())
                alice = await agent_login(await browser.new_page(),
                                          f"http://127.0.0.1:{internal_port}", "alice",
                                          secrets["acme.alice.web"])
            else:
                await ready(rt, "alice")
            page = await browser.new_page()
            page_url = f"http://127.0.0.1:{port}/demo/acme/?q=<b>plans</b>"
            await page.goto(page_url)
            await page.click(".ccari-w-launch")
            await page.click(".ccari-w-choice[data-choice=talk]", timeout=10000)
            await page.click(".ccari-w-talk button[data-topic=sales]")
            await page.wait_for_selector(f"{STATE}[data-state=in-call]", timeout=30000)
            contact: Contact = await eventually(lambda: one_contact_in(rt, "connected"),
                                                what="the web call to be connected")
            assert contact.agent_channel_id
            await speak(rt, agent, contact.agent_channel_id)
            yield Talk(page, agent, contact, page.url, alice)
    finally:
        agent.sink.close()
        with contextlib.suppress(Exception):
            await agent.sipp.stop()
        for runner in runners:
            await runner.cleanup()


async def test_the_customer_talks_from_the_page_with_a_skilled_agent_and_hangs_up(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    rt = ccari
    async with talking(rt, voice_env, openapi_conformance, agent_page=True) as talk:
        page, contact = talk.page, talk.contact
        # A voice contact from the web: the page's URL, the topic chosen on the page.
        assert contact.medium == "voice" and contact.caller_name == "Web visitor"
        assert contact.meta["origin"] == "web" and contact.meta["page_url"] == talk.page_url
        assert contact.attributes.get("skill") == "sales" and "ivr" not in contact.meta
        async with rt.sessions() as s:
            pop = await screen_pop(s, contact, dt.datetime.now(dt.UTC))
        assert pop["origin"] == "web" and pop["page_url"] == talk.page_url
        # alice's screen pop says so, the page's URL as text (nothing of it is markup).
        assert talk.agent_page is not None
        item = ".work-item[data-medium=voice]"
        assert await talk.agent_page.text_content(f"{item} .origin") == "a call from the web page"
        assert await talk.agent_page.text_content(f"{item} .page-url") == talk.page_url
        assert await talk.agent_page.eval_on_selector(
            f"{item} .page-url", "e => e.children.length") == 0

        # Audio both ways: alice's tone decoded by the page, the page's audio to alice.
        heard_before = len(talk.agent.sink.packets)

        async def page_hears() -> dict[str, Any] | None:
            stats = await _stats(page)
            ok = stats.get("packetsReceived", 0) > 25 and stats.get("totalSamplesReceived", 0) > 0 \
                and stats.get("packetsSent", 0) > 25
            return stats if ok else None

        stats = await eventually(page_hears, 10, "the page to receive and send audio")
        assert stats["codec"] in ("audio/PCMU", "audio/PCMA"), stats
        await eventually(lambda: _true(len(talk.agent.sink.packets) > heard_before + 25),
                         what="alice's phone to receive the page's audio")

        # The customer hangs up on the page: the call ends, the contact completes.
        await page.click(".ccari-w-hangup")
        await page.wait_for_selector(f"{STATE}[data-state=ended]", timeout=10000)
        await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")


async def test_the_agent_hanging_up_ends_the_call_on_the_page(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    rt = ccari
    async with talking(rt, voice_env, openapi_conformance, hangup_after_ms=4000) as talk:
        await talk.page.wait_for_selector(f"{STATE}[data-state=ended]", timeout=15000)
        done = await eventually(lambda: one_contact_in(rt, "completed"), what="the contact to end")
        assert done is not None and done.meta.get("origin") == "web"
        assert len(await contacts(rt)) == 1


async def _true(value: object) -> bool:
    return bool(value)


async def _ended_as_lost(rt: Runtime) -> Contact | None:
    rows = await contacts(rt)
    return rows[0] if len(rows) == 1 and rows[0].disposition == "caller-page-lost" else None


# ---- a customer's page that dies mid-call (its own Asterisk: calls die after DEAD_CALL_S) --
DEAD_CALL_S = 4


@pytest.fixture(scope="module")
def dead_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    name = f"talk{os.getpid()}"
    config = PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=(CARRIER_IP,), agent_qualify_s=0,
        dead_call_s=DEAD_CALL_S)
    env = VoiceEnv(tmp_path_factory.mktemp("talk-state"),
                   {p: free_port(PHONE_IP) for p in PHONES}, config)
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('talk-db')}/spec.db"
    proc = start_from_db(lambda: prepare_db(env, url))
    yield env, proc
    proc.stop()


async def test_a_customer_page_that_dies_mid_call_loses_the_call_without_leaking_it(
        dead_env: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
        openapi_conformance: Conformances) -> None:
    env, proc = dead_env
    cfg = await prepare_db(env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    async with runtime(cfg) as rt:
        assert rt.ari is not None
        ari = rt.ari
        await eventually(lambda: _true(ari.connected), what="ccari's ARI to be connected")
        async with talking(rt, env, openapi_conformance) as talk:
            # The renderer crashes: no BYE, no pagehide, the media just stops.
            with contextlib.suppress(PlaywrightError):
                await talk.page.goto("chrome://crash", timeout=5000)
            # Its SIP websocket closes with the call up: ccari's relay tells the voice side,
            # which hangs the call up (a page whose network is gone instead goes silent on
            # it and is lost within the dead-call time).  Room for a box loaded by other work.
            done = await eventually(lambda: _ended_as_lost(rt), DEAD_CALL_S + 20,
                                    "the call to end without the page")
            assert done.meta.get("origin") == "web" and done.state == "completed"

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    await eventually(clean, 15, "Asterisk to have no channel and no bridge left")
