"""The SIP websocket relay tells its owner which calls a page left up when its socket closed,
or stopped answering the relay's pings (and nothing when ccari itself closes the sockets):
Asterisk's websocket played by a small server (the relay is an adapter; the PBX side is in
tests/voice/test_webphone_browser.py and test_video_wait_browser.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from ccari.web.sip_relay import Frame, SipRelay, silence_for
from tests.support.sipp import free_tcp_port
from tests.support.waits import eventually

SILENT_S = 0.4
INVITE = "INVITE sip:p@x SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n"
ANSWER = "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n"
BYE = "BYE sip:a@x SIP/2.0\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\r\n"


@dataclass
class Relayed:
    client: TestClient
    relay: SipRelay
    lost: list[frozenset[str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the page's handler returned
    at_pbx: list[str] = field(default_factory=list)  # what reached Asterisk
    pbx: web.WebSocketResponse | None = None  # Asterisk's side of the page's line

    async def settled(self) -> list[frozenset[str]]:
        """What the relay told once the page's handler and what it started are over."""
        await asyncio.wait_for(self.done.wait(), 5)
        await asyncio.gather(*self.relay._tasks)
        return self.lost


def strict(text: str) -> Frame:
    """A context's check, as strict as the agent's and the talk page's: what is not a SIP
    message (every one has a Call-ID) closes the page's phone."""
    return Frame(forward=text) if "Call-ID:" in text else Frame(stop=True)


@pytest.fixture
async def relayed(aiohttp_client) -> AsyncIterator[Relayed]:  # type: ignore[no-untyped-def]
    async def asterisk(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        found.pbx = ws
        await ws.send_str(INVITE)  # a call rings the page
        async for msg in ws:
            found.at_pbx.append(msg.data)
        return ws

    found = Relayed(None, None)  # type: ignore[arg-type]
    fake = web.Application()
    fake.router.add_get("/ws", asterisk)
    runner = web.AppRunner(fake)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        relay = found.relay = SipRelay(f"ws://127.0.0.1:{port}/ws", http, max_frame=64 * 1024,
                                       silent_s=SILENT_S)

        async def lost(calls: frozenset[str]) -> None:
            found.lost.append(calls)

        async def page(request: web.Request) -> web.WebSocketResponse:
            try:
                return await relay.serve(request, "page", strict, lost)
            finally:
                found.done.set()

        app = web.Application()
        app.router.add_get("/ws", page)
        found.client = await aiohttp_client(app)
        yield found
    await runner.cleanup()


async def _answered(r: Relayed, *, autoping: bool = True) -> aiohttp.ClientWebSocketResponse:
    ws = await r.client.ws_connect("/ws", protocols=("sip",), autoping=autoping)
    assert (await ws.receive(timeout=5)).data == INVITE
    await ws.send_str(ANSWER)
    return ws


async def test_a_page_closed_with_a_call_up_is_told_with_the_call(relayed: Relayed) -> None:
    ws = await _answered(relayed)
    await ws.close()
    assert await relayed.settled() == [frozenset({"c1"})]


async def test_a_page_gone_silent_is_lost_with_its_call_within_its_silent_time(
        relayed: Relayed) -> None:
    """Its network gone, no close ever comes: the pings it no longer answers end it."""
    ws = await _answered(relayed, autoping=False)  # then it says nothing, not even a pong

    async def lost() -> bool:
        return relayed.lost == [frozenset({"c1"})]

    await eventually(lost, SILENT_S + 2, "the silent page to be lost with its call")
    await ws.close()


async def test_a_page_that_answers_the_pings_stays_past_its_silent_time(
        relayed: Relayed) -> None:
    ws = await _answered(relayed)  # its pongs (aiohttp's autoping) are all it says
    reading = asyncio.create_task(ws.receive())
    await asyncio.sleep(2 * SILENT_S)  # the scenario: twice the time a silent page has
    assert not reading.done() and not relayed.done.is_set() and relayed.lost == []
    await ws.close()
    assert await relayed.settled() == [frozenset({"c1"})]


@pytest.mark.parametrize(("dead_call_s", "silent_s"), [(60, 60.0), (4, 4.0), (0, 30.0)])
def test_a_page_may_be_silent_for_the_dead_call_time(dead_call_s: int, silent_s: float) -> None:
    assert silence_for(dead_call_s) == silent_s


async def test_a_page_that_hung_up_first_is_not_lost_mid_call(relayed: Relayed) -> None:
    ws = await _answered(relayed)
    await ws.send_str(BYE)
    await ws.close()
    assert await relayed.settled() == []


async def test_a_page_that_never_answered_is_not_lost_mid_call(relayed: Relayed) -> None:
    ws = await relayed.client.ws_connect("/ws", protocols=("sip",))
    assert (await ws.receive(timeout=5)).data == INVITE
    await ws.close()
    assert await relayed.settled() == []


async def test_shutdown_leaves_the_calls_to_asterisk(relayed: Relayed) -> None:
    ws = await _answered(relayed)

    async def answered() -> bool:
        return ANSWER in relayed.at_pbx

    await eventually(answered, 5, "the page's answer to reach Asterisk")
    await relayed.relay.close()
    assert (await ws.receive(timeout=5)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert await relayed.settled() == []


async def test_keep_alives_pass_both_ways_and_a_call_stays_up(relayed: Relayed) -> None:
    """Asterisk pings every connection with a double CRLF (every 90 s by default) and JsSIP
    answers with a single one: neither is a SIP message for the page's check, and the
    page's phone stays up with its call through them."""
    ws = await _answered(relayed)
    assert relayed.pbx is not None
    await relayed.pbx.send_str("\r\n\r\n")
    assert (await ws.receive(timeout=5)).data == "\r\n\r\n"
    await ws.send_str("\r\n")

    async def ponged() -> bool:
        return "\r\n" in relayed.at_pbx

    await eventually(ponged, 5, "the page's pong to reach Asterisk")
    assert not relayed.done.is_set() and relayed.lost == []
    await ws.send_str(BYE)  # the call goes on until the page hangs up
    await ws.close()
    assert await relayed.settled() == []
