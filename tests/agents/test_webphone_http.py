"""The browser phone's HTTP side without a PBX: the per-login SIP password, who gets it, and
who may open the SIP websocket relay."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from ccari.agents import repo
from ccari.agents.devices import BROWSER, SIP, WS_PATH, credentials, foreign_identity
from ccari.app import internal_app, runtime
from ccari.demo.seed import seed
from ccari.storage.models import Agent
from tests.support.sipp import free_tcp_port


@pytest.fixture
async def rt(cfg, sessions):  # type: ignore[no-untyped-def]
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.execute(update(Agent).where(Agent.username == "alice").values(
            device=BROWSER, phone_contact=None))
        await s.commit()
    # Nothing listens where Asterisk's websocket would be.
    cfg = replace(cfg, pbx=replace(cfg.pbx, ari_port=free_tcp_port()))
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        yield rt


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(internal_app(rt))


async def _login(client: TestClient, user: str, password: str) -> str:
    """Log in; the page's CSRF token."""
    form = await client.get("/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    resp = await client.post("/agent/login", data={
        "csrf": csrf, "tenant": "acme", "username": user, "password": password})
    page = await resp.text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def _password(rt, user: str) -> str:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        agent = await repo.by_login(s, "acme", user)
        return agent.phone_password  # type: ignore[no-any-return, union-attr]


@pytest.mark.parametrize(("device", "expected_keys"), [
    (SIP, {"device"}),
    (BROWSER, {"device", "ws_path", "username", "password", "uri"}),
])
def test_only_a_browser_phone_gets_a_secret(device: str, expected_keys: set[str]) -> None:
    got = credentials(device, "acme-alice", "s3cret-s3cret")
    assert set(got) == expected_keys
    if device == BROWSER:
        assert got["password"] == "s3cret-s3cret" and got["ws_path"] == WS_PATH
        assert got["uri"].startswith("sip:acme-alice@")


async def test_each_login_gives_the_browser_phone_a_new_password_only_its_page_gets(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    seeded = rt.demo_secrets["acme.alice.sip"]
    assert (await client.get("/agent/api/phone")).status == 401  # not logged in
    csrf = await _login(client, "alice", rt.demo_secrets["acme.alice.web"])
    first = await _password(rt, "alice")
    assert first != seeded and len(first) >= 32
    page = await (await client.get("/agent")).text()
    assert 'id="webphone"' in page and "/static/vendor/jssip/jssip.min.js" in page
    assert first not in page  # never in the HTML, only from the API below

    resp = await client.get("/agent/api/phone")  # no CSRF token: refused
    assert resp.status == 403 and (await resp.json())["error"] == "csrf-failed"
    resp = await client.get("/agent/api/phone", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["device"] == BROWSER and body["username"] == "acme-alice"
    assert body["password"] == first

    # Logging out replaces it: what the page knew is worth nothing now.
    resp = await client.post("/agent/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert await _password(rt, "alice") not in (first, seeded)
    assert (await client.get("/agent/api/phone", headers={"X-CSRF-Token": csrf})).status == 401


async def test_a_sip_phone_agent_gets_no_secret_and_no_sip_websocket(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    csrf = await _login(client, "bob", rt.demo_secrets["acme.bob.web"])
    assert await _password(rt, "bob") == rt.demo_secrets["acme.bob.sip"]  # unchanged
    assert 'id="webphone"' not in await (await client.get("/agent")).text()
    resp = await client.get("/agent/api/phone", headers={"X-CSRF-Token": csrf})
    assert await resp.json() == {"device": SIP}
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(WS_PATH, protocols=("sip",))
    assert refused.value.status == 403


async def test_the_sip_websocket_needs_a_login_and_closes_when_asterisk_is_away(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(WS_PATH, protocols=("sip",))
    assert refused.value.status == 401
    await _login(client, "alice", rt.demo_secrets["acme.alice.web"])
    ws = await client.ws_connect(WS_PATH, protocols=("sip",))
    assert ws.protocol == "sip"
    msg = await ws.receive(timeout=10)
    assert msg.data == 1013 and ws.close_code == 1013  # try again later: JsSIP reconnects


REGISTER = ("REGISTER sip:ccari.invalid SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n"
            "From: {sender};tag=abc\r\nTo: {sender}\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\n"
            "{extra}Content-Length: 0\r\n\r\n")


def _register(sender: str, extra: str = "") -> str:
    return REGISTER.format(sender=sender, extra=extra)


@pytest.mark.parametrize(("frame", "refused"), [
    (_register("<sip:acme-alice@ccari.invalid>"), None),
    (_register('"Alice" <sip:acme-alice@ccari.invalid>'), None),
    (_register("<sip:acme-bob@ccari.invalid>"), "From 'acme-bob'"),
    (_register("sip:acme-bob@ccari.invalid"), "From 'acme-bob'"),
    (_register("<sip:acme-alice@ccari.invalid>",
               'Authorization: Digest username="acme-alice", realm="asterisk"\r\n'), None),
    (_register("<sip:acme-alice@ccari.invalid>",
               'Authorization: Digest username="acme-bob", realm="asterisk"\r\n'),
     "credentials of 'acme-bob'"),
    (_register("<sip:acme-alice@ccari.invalid>", "Proxy-Authorization: Digest realm=x\r\n"),
     "credentials of 'nobody'"),
    ("INVITE sip:15550100@ccari.invalid SIP/2.0\r\nf: <sip:acme-bob@x>;tag=1\r\nt: <sip:1@x>\r\n\r\n",
     "From 'acme-bob'"),
    ("INVITE sip:x SIP/2.0\r\nTo: <sip:1@x>\r\n\r\n", "From 'nobody'"),
    # In a dialog Asterisk opened (its INVITE to her contact): the page's BYE passes.
    ("BYE sip:x SIP/2.0\r\nFrom: <sip:k3j2@x.invalid>;tag=p\r\nTo: <sip:15550199@x>;tag=a\r\n\r\n",
     None),
    ("SIP/2.0 200 OK\r\nFrom: <sip:15550199@127.0.0.1>;tag=a\r\nTo: <sip:k3j2@x>;tag=p\r\n\r\n",
     None),    # One frame, one message: a second one riding behind her own would reach Asterisk.
    (_register("<sip:acme-alice@ccari.invalid>") + _register("<sip:acme-bob@ccari.invalid>"),
     "more than one message in a frame"),
    ("SIP/2.0 200 OK\r\nCall-ID: 1\r\n\r\n" + _register("<sip:acme-bob@ccari.invalid>"),
     "more than one message in a frame"),
    # Two lengths: the first covers her message, a parser believing the second reads on.
    (_register("<sip:acme-alice@ccari.invalid>").replace(
        "Content-Length: 0\r\n", "Content-Length: 0\r\nl: 40\r\n"),
     "more than one message in a frame"),
    ("REGISTER sip:x SIP/2.0\r\nFrom: <sip:acme-alice@ccari.invalid>", "more than one message in a frame"),
    (_register("<sip:acme-alice@ccari.invalid>").replace("Content-Length: 0", "Content-Length: \u00b2"),
     "more than one message in a frame"),
])
def test_the_relay_carries_only_the_agents_own_identity(frame: str, refused: str | None) -> None:
    assert foreign_identity(frame, "acme-alice") == refused


async def test_a_page_claiming_another_endpoint_is_cut_off_before_asterisk_sees_it(
        cfg, sessions, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """Asterisk's websocket played by a recording server (the relay is an adapter)."""
    seen: list[str] = []

    async def asterisk(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        async for msg in ws:
            seen.append(msg.data)
            await ws.send_str("SIP/2.0 401 Unauthorized\r\n\r\n")
        return ws

    fake = web.Application()
    fake.router.add_get("/ws", asterisk)
    runner = web.AppRunner(fake)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.execute(update(Agent).where(Agent.username == "alice").values(device=BROWSER))
        await s.commit()
    cfg = replace(cfg, pbx=replace(cfg.pbx, host="127.0.0.1", ari_port=port))
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(runner.cleanup)
        rt = await stack.enter_async_context(runtime(cfg, with_pbx=False))
        client = await aiohttp_client(internal_app(rt))
        await _login(client, "alice", sec["acme.alice.web"])
        ws = await client.ws_connect(WS_PATH, protocols=("sip",))
        own = _register("<sip:acme-alice@ccari.invalid>")
        await ws.send_str(own)
        assert (await ws.receive(timeout=5)).data.startswith("SIP/2.0 401")
        await ws.send_str(_register("<sip:acme-bob@ccari.invalid>"))
        closing = await ws.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert seen == [own]  # bob's REGISTER never reached Asterisk
