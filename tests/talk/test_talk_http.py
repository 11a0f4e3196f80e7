"""Talk now on the public listener, without a PBX: tickets (tenant setting, origin, rate
limits, expiry, single use) and what the SIP relay lets through to Asterisk's websocket,
played here by a recording stand-in (the real PBX path: tests/voice/test_talk_browser.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from itsdangerous import TimestampSigner
from sqlalchemy import select

from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.config import Config
from ccari.demo.seed import seed
from ccari.pbx.spec import web_key
from ccari.routing import Agent as RouterAgent
from ccari.routing import Medium, SlotSpec
from ccari.storage.models import Contact, Tenant
from ccari.talk.context import Signer
from ccari.talk.sip import CONTEXT_HEADER, ERROR_HEADER, KEY_HEADER
from tests.public.support import customer_ws, new_session, until

EVIL = "http://evil.example"
WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "sip"}


@pytest.fixture
def db_url(tmp_path: Any) -> str:  # no storage here: SQLite only
    return f"sqlite+aiosqlite:///{tmp_path}/ccari.db"


class FakeAsterisk:
    """Asterisk's ``/ws`` SIP transport as far as the relay can tell: what reaches it."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.received = asyncio.Event()

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("sip",))
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.frames.append(msg.data)
                self.received.set()
        return ws


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[FakeAsterisk, int]]:
    fake = FakeAsterisk()
    app = web.Application()
    app.router.add_get("/ws", fake.ws)
    server = TestServer(app)
    await server.start_server()
    yield fake, server.port  # type: ignore[misc]
    await server.close()


@pytest.fixture
async def rt(cfg: Config, asterisk: tuple[FakeAsterisk, int]) -> AsyncIterator[Runtime]:
    from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async

    cfg = replace(cfg, pbx=replace(cfg.pbx, ari_port=asterisk[1], ari_password="ari-secret-x"))
    await upgrade_async(cfg.database.url)
    engine = make_engine(cfg.database.url)
    async with make_sessionmaker(engine)() as s:
        await seed(s, cfg)
        await s.commit()
    await engine.dispose()
    async with runtime(cfg, with_pbx=False) as rt:
        yield rt


@pytest.fixture
async def public(rt: Runtime, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(public_app(rt))


async def _ticket(public: TestClient, token: str, **body: Any) -> aiohttp.ClientResponse:
    return await public.post("/v1/talk/tickets", headers={"Authorization": f"Bearer {token}"},
                             json={"page_url": "http://127.0.0.1/demo/acme/?q=<b>", **body})


def _invite(t: dict[str, Any], uri: str | None = None, method: str = "INVITE",
            call_id: str = "call-1") -> str:
    identity = t["uri"]
    return "\r\n".join([
        f"{method} {uri or t['target']} SIP/2.0", "Via: SIP/2.0/WSS h.invalid;branch=z9hG4bKx",
        f"From: <{identity}>;tag=p1", f"To: <{uri or t['target']}>", f"Call-ID: {call_id}",
        f"CSeq: 1 {method}", f"{CONTEXT_HEADER}: forged-by-the-page", "Content-Length: 0",
    ]) + "\r\n\r\n"


async def test_the_widget_offers_talk_now_where_the_tenant_allows_it(public: TestClient) -> None:
    acme = await new_session(public, "acme")
    globex = await new_session(public, "globex")
    assert acme["talk_now"] is True and globex["talk_now"] is False  # demo: acme only
    refused = await _ticket(public, globex["token"])
    assert refused.status == 403 and (await refused.json())["error"] == "talk-now-disabled"
    ok = await _ticket(public, acme["token"], topic="sales")
    assert ok.status == 201, await ok.text()
    t = await ok.json()
    assert t["ws_path"] == "/v1/talk/ws" and t["target"] == "sip:talk@ccari.invalid"
    assert t["uri"].startswith("sip:web-") and t["expires_in"] == 30
    bad = await _ticket(public, acme["token"], topic="billing")
    assert bad.status == 400 and (await bad.json())["error"] == "bad-topic"
    url = await _ticket(public, acme["token"], page_url="javascript:alert(1)")
    assert url.status == 400 and (await url.json())["error"] == "bad-page-url"
    none = await public.post("/v1/talk/tickets", json={"page_url": "http://a.example/"})
    assert none.status == 401 and (await none.json())["error"] == "token-required"
    evil = await public.post("/v1/talk/tickets", json={"page_url": "http://a.example/"},
                             headers={"Authorization": f"Bearer {acme['token']}", "Origin": EVIL})
    assert evil.status == 403 and (await evil.json())["error"] == "bad-origin"
    # The scripts the widget loads for a call are served for embedding.
    for path in ("/talk/jssip.min.js", "/talk/video-watch.js", "/talk/talk.js"):
        js = await public.get(path)
        assert js.status == 200 and js.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


async def test_tickets_are_rate_limited_per_session(public: TestClient) -> None:
    # Three calls a minute per customer session (ccari.public.ratelimit.PublicLimits).
    token = (await new_session(public))["token"]
    statuses = [(await _ticket(public, token)).status for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    resp = await _ticket(public, token)
    assert (await resp.json())["error"] == "rate-limited"


async def test_the_relay_refuses_bad_tickets_reuse_and_foreign_origins(
        public: TestClient, rt: Runtime, monkeypatch: Any) -> None:
    token = (await new_session(public))["token"]
    t = await (await _ticket(public, token)).json()
    foreign = await public.get(f"/v1/talk/ws?ticket={t['ticket']}",
                               headers={**WS_HEADERS, "Origin": EVIL})
    assert foreign.status == 403 and (await foreign.json())["error"] == "bad-origin"
    ws = await public.ws_connect(f"/v1/talk/ws?ticket={t['ticket']}", protocols=("sip",))
    await ws.close()
    again = await public.get(f"/v1/talk/ws?ticket={t['ticket']}", headers=WS_HEADERS)
    assert again.status == 403 and (await again.json())["error"] == "ticket-used"
    with monkeypatch.context() as m:  # issued a minute ago: past its 30 s
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 60)
        old_token = (await new_session(public))["token"]
        old = await (await _ticket(public, old_token)).json()
    expired = await public.get(f"/v1/talk/ws?ticket={old['ticket']}", headers=WS_HEADERS)
    assert expired.status == 401 and (await expired.json())["error"] == "ticket-expired"
    forged = await public.get(f"/v1/talk/ws?ticket={t['ticket'][:-3]}abc", headers=WS_HEADERS)
    assert forged.status == 401 and (await forged.json())["error"] == "bad-ticket"
    missing = await public.get("/v1/talk/ws", headers=WS_HEADERS)
    assert missing.status == 401 and (await missing.json())["error"] == "bad-ticket"


async def test_the_relay_lets_one_call_to_the_target_through_and_nothing_else(
        public: TestClient, rt: Runtime, asterisk: tuple[FakeAsterisk, int]) -> None:
    fake, _ = asterisk
    token = (await new_session(public))["token"]
    t = await (await _ticket(public, token)).json()
    ws = await public.ws_connect(f"/v1/talk/ws?ticket={t['ticket']}", protocols=("sip",))
    refused = {
        "method-not-allowed": _invite(t, "sip:ccari.invalid", method="REGISTER"),
        "destination-not-allowed": _invite(t, "sip:acme-alice@ccari.invalid"),
    }
    for error, frame in refused.items():
        await ws.send_str(frame)
        reply = await ws.receive_str(timeout=5)
        assert reply.startswith("SIP/2.0 403 Forbidden\r\n"), reply
        assert f"{ERROR_HEADER}: {error}\r\n" in reply
    assert fake.frames == []  # nothing of it reached Asterisk

    await ws.send_str(_invite(t))
    await asyncio.wait_for(fake.received.wait(), 5)
    (invite,) = fake.frames
    assert invite.startswith("INVITE sip:talk@ccari.invalid SIP/2.0\r\n")
    assert f"{KEY_HEADER}: {web_key('ari-secret-x')}\r\n" in invite
    assert "forged-by-the-page" not in invite and f"\r\n{CONTEXT_HEADER}: " in invite
    await ws.send_str(_invite(t, call_id="call-2"))  # a second call on the same ticket
    reply = await ws.receive_str(timeout=5)
    assert f"{ERROR_HEADER}: one-call-per-ticket\r\n" in reply
    assert len(fake.frames) == 1
    await ws.close()


async def test_the_tenant_turns_talk_now_on_and_off(public: TestClient, rt: Runtime,
                                                    aiohttp_client: Any) -> None:
    internal = await aiohttp_client(internal_app(rt))
    secrets = json.loads((rt.config.state_path / "demo-secrets.json").read_text())
    globex = {"Authorization": f"Bearer {secrets['globex.token']}"}
    assert (await internal.get("/api/talk/settings")).status == 401
    got = await internal.get("/api/talk/settings", headers=globex)
    assert got.status == 200 and await got.json() == {"talk_now": False}
    bad = await internal.put("/api/talk/settings", json={"talk_now": "yes"}, headers=globex)
    assert bad.status == 400 and (await bad.json())["error"] == "bad-talk-now"
    on = await internal.put("/api/talk/settings", json={"talk_now": True}, headers=globex)
    assert on.status == 200 and await on.json() == {"talk_now": True}
    session = await new_session(public, "globex")
    assert session["talk_now"] is True
    assert (await _ticket(public, session["token"])).status == 201
    # acme's setting is acme's own.
    acme = {"Authorization": f"Bearer {secrets['acme.token']}"}
    off = await internal.put("/api/talk/settings", json={"talk_now": False}, headers=acme)
    assert off.status == 200
    assert (await new_session(public, "globex"))["talk_now"] is True
    refused = await _ticket(public, (await new_session(public, "acme"))["token"])
    assert refused.status == 403 and (await refused.json())["error"] == "talk-now-disabled"


async def test_the_call_carries_the_sessions_chat_found_by_ccari(public: TestClient,
                                                                 rt: Runtime) -> None:
    signer = Signer(rt.config.web.secret_key)
    token = (await new_session(public))["token"]
    ws = await customer_ws(public, token)
    assert (await until(ws, "state"))["state"] == "none"
    await ws.send_json({"type": "open", "topic": "sales", "page_url": "http://shop.example/"})
    assert (await until(ws, "state"))["state"] == "queued"
    async with rt.sessions() as s:
        chat = await s.scalar(select(Contact).where(Contact.medium == "chat"))
    assert chat is not None
    t = await (await _ticket(public, token)).json()
    call, _ = signer.open_ticket(t["ticket"])
    assert (call.chat_id, call.cobrowse_id) == (chat.id, None)
    # Another customer's session has no chat: nothing of this one goes with its call.
    other = (await new_session(public))["token"]
    call, _ = signer.open_ticket((await (await _ticket(public, other)).json())["ticket"])
    assert call.chat_id is None
    await ws.close()


def _video_agent(rt: Runtime, tenant: str, *, video: bool = True, ready: bool = True) -> str:
    """An agent logged in to the router with a voice slot, and a video one if ``video``
    (what the contacts side makes of an agent page phone's video slot)."""
    router = rt.queue.router
    agent_id = f"video-{tenant}-{len(router.snapshot().agents)}"
    per_medium = {Medium.VOICE: 1, **({Medium.VIDEO: 1} if video else {})}
    router.agent_login(RouterAgent(agent_id, tenant, attributes={("skill", "sales"): 1},
                                   slots=SlotSpec(per_medium, 1)), time.time(), ready=ready)
    return agent_id


async def test_video_call_is_offered_only_while_an_agent_can_take_it(
        rt: Runtime, public: TestClient) -> None:
    session = await new_session(public, "acme")
    assert session["talk_now"] is True and session["video_call"] is False
    token = session["token"]
    refused = await _ticket(public, token, video=True)
    assert refused.status == 409 and (await refused.json())["error"] == "video-unavailable"
    assert (await _ticket(public, token)).status == 201  # talk now still is
    tenant = await _tenant_id(rt, "acme")
    _video_agent(rt, tenant, video=False)  # a SIP phone agent: no video slot
    assert (await new_session(public, "acme"))["video_call"] is False
    agent = _video_agent(rt, tenant, ready=False)  # not ready: cannot take it now
    assert (await new_session(public, "acme"))["video_call"] is False
    rt.queue.router.agent_ready(agent, time.time())
    offered = await new_session(public, "acme")
    assert offered["video_call"] is True
    assert set(offered) == {"token", "expires_in", "session_id", "tenant", "tenant_name",
                            "topics", "talk_now", "video_call"}  # a yes or no, no agent
    assert (await _ticket(public, offered["token"], video=True, topic="sales")).status == 201
    skilled_elsewhere = await _ticket(public, offered["token"], video=True, topic="support")
    assert skilled_elsewhere.status == 409
    assert (await new_session(public, "globex"))["video_call"] is False  # another tenant's
    rt.queue.router.agent_logout(agent, time.time())
    assert (await new_session(public, "acme"))["video_call"] is False


async def _tenant_id(rt: Runtime, slug: str) -> str:
    async with rt.sessions() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tenant_id is not None
    return str(tenant_id)


async def test_a_video_ticket_carries_the_video_call_into_the_signed_context(
        rt: Runtime, public: TestClient) -> None:
    signer = Signer(rt.config.web.secret_key)
    token = (await new_session(public, "acme"))["token"]
    _video_agent(rt, await _tenant_id(rt, "acme"))
    video = await (await _ticket(public, token, topic="sales", video=True)).json()
    voice = await (await _ticket(public, token, topic="sales")).json()
    assert signer.open_ticket(video["ticket"])[0].video is True
    assert signer.open_ticket(voice["ticket"])[0].video is False
    bad = await _ticket(public, token, video="yes")
    assert bad.status == 400 and (await bad.json())["error"] == "bad-video"
