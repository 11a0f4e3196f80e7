"""Calls across nodes: two ccari nodes on one PostgreSQL, each beside its own real Asterisk
(both rendered from the same database, so every agent's phone is known to both).  The
routing leader decides every offer; the node whose Asterisk carries the call rings the
agent's phone and bridges her, and the agent's page on the other node gets the screen pop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from ccari.app import Runtime, internal_app, runtime
from ccari.config import ClusterConfig, Config, PbxConfig
from ccari.demo.seed import seed
from ccari.pbx import PbxProcess, provision, start
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, ContactEvent, Queue
from ccari.tenants.pbx import spec_from_db
from tests.cluster.conftest import CHECK_S, NODE_TIMEOUT_S, eventually_true
from tests.support.agent_web import AgentPage, open_agent_page
from tests.support.sipp import free_port
from tests.support.waits import eventually
from tests.voice.calls import rest
from tests.voice.conftest import PHONE_IP, PHONES, VoiceEnv, pbx_counts
from tests.voice.test_voice_pbx import caller, phone

pytestmark = pytest.mark.pbx


@dataclass
class CallsNode:
    name: str
    rt: Runtime
    env: VoiceEnv
    pbx: PbxProcess
    web: TestClient


def pbx_config(name: str) -> PbxConfig:
    instance = f"{name}{os.getpid()}"
    return PbxConfig(instance=instance, app_name=f"ccari-{instance}",
                     sip_port=free_port("127.0.0.1"),
                     ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                     ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                     rtp_start=12000, rtp_end=19998, carrier_match=("127.0.0.2",),
                     agent_qualify_s=0)


def node_config(env: VoiceEnv, url: str, name: str) -> Config:
    cfg = env.config(url)
    return replace(cfg, node=name,
                   cluster=ClusterConfig(enabled=True, reconnect_max_s=0.5,
                                         leader_check_s=CHECK_S, node_timeout_s=NODE_TIMEOUT_S))


@pytest.fixture
async def start_calls_node(cluster_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """``await start(name)``: a node with its own Asterisk (rendered from the shared
    database, seeded once with every agent's phone on one SIPp port per phone);
    ``start(name, standby=("b",))``: one that stands in for node b's Asterisk;
    ``start(name, sites=...)``: other settings of the config."""
    phones = {p: free_port(PHONE_IP) for p in PHONES}
    seeded: dict[str, Any] = {}
    envs: dict[str, VoiceEnv] = {}

    def env_of(name: str) -> VoiceEnv:
        if name not in envs:
            envs[name] = VoiceEnv(tmp_path / name, phones, pbx_config(name))
            envs[name].state_dir.mkdir()
        return envs[name]

    def standby_ari(name: str) -> str:
        p = env_of(name).config(cluster_url).pbx  # its generated ARI secret, kept for its start
        return f"{name}=http://{p.ari_user}:{p.ari_password}@{p.host}:{p.ari_port}"

    async with contextlib.AsyncExitStack() as stack:
        async def start_node(name: str, standby: tuple[str, ...] = (),
                             **changes: Any) -> CallsNode:
            env = env_of(name)
            cfg = replace(node_config(env, cluster_url, name), **changes)
            cfg = replace(cfg, cluster=replace(
                cfg.cluster, standby_ari=tuple(standby_ari(other) for other in standby)))
            if not seeded:
                engine = make_engine(cluster_url)
                async with make_sessionmaker(engine)() as s:
                    seeded.update(await seed(s, cfg, phone_contacts=env.contacts()))
                    for queue in await s.scalars(select(Queue)):
                        queue.ring_timeout_s = 4  # a missed call is seen soon
                    await s.commit()
                await engine.dispose()
            spec = await spec_from_db(cfg)
            pbx = await asyncio.to_thread(start, spec, runtime=provision())
            stack.callback(pbx.stop)
            rt = await stack.enter_async_context(runtime(cfg))
            web = TestClient(TestServer(internal_app(rt)))
            await web.start_server()
            stack.push_async_callback(web.close)
            return CallsNode(name, rt, env, pbx, web)

        yield start_node, seeded


async def page(node: CallsNode, seeded: dict[str, Any], user: str) -> AgentPage:
    opened = await open_agent_page(str(node.web.make_url("")), "acme", user,
                                   seeded[f"acme.{user}.web"])
    await opened.presence("ready")
    return opened


@pytest.fixture
async def two_nodes_alice_on_a(start_calls_node: Any,
                               ) -> AsyncIterator[tuple[CallsNode, CallsNode, AgentPage]]:
    """Nodes a (the leader: started first) and b, alice ready with her page on a."""
    start_node, seeded = start_calls_node
    a = await start_node("a")
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading)
    b = await start_node("b")
    alice_page = await page(a, seeded, "alice")
    try:
        yield a, b, alice_page
    finally:
        await alice_page.close()


async def next_of(opened: AgentPage, kind: str) -> dict[str, Any]:
    while True:
        msg = await opened.ws.receive_json(timeout=20)
        if msg.get("type") == kind:
            return msg


async def contact_row(node: CallsNode, contact_id: str) -> Contact | None:
    async with node.rt.sessions() as s:
        return await s.get(Contact, contact_id)


async def the_contact(rt: Runtime, state: str) -> Contact | None:
    async with rt.sessions() as s:
        rows = list(await s.scalars(select(Contact)))
    return rows[0] if len(rows) == 1 and rows[0].state == state else None


async def test_a_call_on_the_followers_asterisk_rings_the_agent_from_there(
        two_nodes_alice_on_a: tuple[CallsNode, CallsNode, AgentPage]) -> None:
    a, b, alice_page = two_nodes_alice_on_a
    async with phone(b.env, "alice") as alice_phone:
        call = caller(b.env, digits="1", hangup_after_ms=6000, caller="15550199")
        await call.start()
        offer = await next_of(alice_page, "offer")
        connected = await eventually(lambda: the_contact(b.rt, "connected"),
                                     what="the call connected")
        assert connected.node == "b" and connected.agent_id is not None
        assert offer["contact"]["id"] == connected.id
        # The agent's leg is on b's Asterisk, bridged there; a's carries nothing.
        assert await asyncio.to_thread(pbx_counts, b.pbx) == (2, 1)
        assert await asyncio.to_thread(pbx_counts, a.pbx) == (0, 0)
        assert (await next_of(alice_page, "connected"))["contact_id"] == connected.id
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: the_contact(a.rt, "completed"), what="completed")
    rung = await alice_phone.result()
    assert rung.requests.get("INVITE") == 1, rung.describe()
    assert done.agent_id == connected.agent_id and done.disposition == "caller-hangup"


async def test_an_agent_who_misses_a_call_on_another_node_is_made_not_ready(
        two_nodes_alice_on_a: tuple[CallsNode, CallsNode, AgentPage]) -> None:
    """Her miss is seen by the node carrying the call and acted on by the leader: she is
    not ready (missed offer, on her page on the leader's node), the caller back in the
    queue, in front."""
    a, b, alice_page = two_nodes_alice_on_a
    async with phone(b.env, "alice", "agent_noanswer.xml") as alice_phone:
        call = caller(b.env, digits="1", hangup_after_ms=9000, caller="15550199")
        await call.start()
        state = await next_of(alice_page, "state")
        while state.get("state") != "not_ready":
            state = await next_of(alice_page, "state")
        assert state.get("reason") == "missed_offer"
        back = await eventually(lambda: the_contact(a.rt, "queued"), what="back in the queue")
        assert back.offer_count == 1 and back.agent_id is None
        assert a.rt.queue.view(back.id).position == 1
        result = await call.wait()
        assert result.ok, result.describe()
        await eventually(lambda: the_contact(a.rt, "abandoned"), what="abandoned")
    assert (await alice_phone.result()).requests.get("INVITE") == 1


async def test_her_call_controls_reach_the_call_on_the_other_nodes_asterisk(
        two_nodes_alice_on_a: tuple[CallsNode, CallsNode, AgentPage]) -> None:
    """Her page is on a, her call on b's Asterisk: hold and resume from her page are run by
    b (the caller out of the bridge with music, then back), errors come back as b gave them,
    and the REST API's controls take the same way."""
    a, b, alice_page = two_nodes_alice_on_a
    async with phone(b.env, "alice"):
        call = caller(b.env, digits="1", hangup_after_ms=9000, caller="15550199")
        await call.start()
        live = (await next_of(alice_page, "connected"))["contact_id"]
        contact = await eventually(lambda: the_contact(b.rt, "connected"), what="connected")
        assert b.rt.ari is not None and contact.bridge_id is not None

        async def in_bridge() -> set[str]:
            assert b.rt.ari is not None
            return set((await b.rt.ari.get_bridge(contact.bridge_id or "")).channels)

        await alice_page.ws.send_json({"type": "call.hold", "contact_id": live})
        assert (await next_of(alice_page, "held"))["contact_id"] == live
        assert contact.channel_id not in await in_bridge()
        await alice_page.ws.send_json({"type": "call.hold", "contact_id": live})
        error = await next_of(alice_page, "error")
        assert (error["error"], error["request"]) == ("call-on-hold", "call.hold")
        await alice_page.ws.send_json({"type": "call.resume", "contact_id": live})
        assert (await next_of(alice_page, "resumed"))["contact_id"] == live
        assert contact.channel_id in await in_bridge()
        # The same through the REST API of her node.
        assert await rest(alice_page, live, "hold") == (200, {"type": "held",
                                                              "contact_id": live})
        assert contact.channel_id not in await in_bridge()
        status, body = await rest(alice_page, live, "hold")
        assert (status, body["error"]) == (409, "call-on-hold")
        assert (await rest(alice_page, live, "resume"))[0] == 200
        assert contact.channel_id in await in_bridge()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: the_contact(a.rt, "completed"), what="completed")
    async with a.rt.sessions() as s:
        kinds = [e.kind for e in await s.scalars(
            select(ContactEvent).where(ContactEvent.contact_id == live)
            .order_by(ContactEvent.id))]
    assert kinds.count("held") == 2 and kinds.count("resumed") == 2
    assert done.id == live


async def test_her_reopened_page_gets_back_her_call_on_the_other_nodes_asterisk(
        two_nodes_alice_on_a: tuple[CallsNode, CallsNode, AgentPage],
        start_calls_node: Any) -> None:
    """Her page is on a, her call on b's Asterisk: the page closed and opened again on a is
    told the call (screen pop, connected, held as it is) by b, through a."""
    a, b, alice_page = two_nodes_alice_on_a
    _, seeded = start_calls_node
    async with phone(b.env, "alice"):
        call = caller(b.env, digits="1", hangup_after_ms=9000, caller="15550199")
        await call.start()
        live = (await next_of(alice_page, "connected"))["contact_id"]
        await alice_page.ws.send_json({"type": "call.hold", "contact_id": live})
        assert (await next_of(alice_page, "held"))["contact_id"] == live
        await alice_page.close()
        reopened = await open_agent_page(str(a.web.make_url("")), "acme", "alice",
                                         seeded["acme.alice.web"])
        try:
            # (her state, told by the leader as the page opens, may come in between)
            told = [m for m in await reopened.resume_calls() if m["type"] != "state"]
        finally:
            await reopened.close()
        assert told[-1] == {"type": "calls", "contact_ids": [live]}
        offer = told[0]
        assert offer["type"] == "offer" and offer["resumed"]
        assert (offer["contact"]["id"], offer["contact"]["caller_number"]) == (live, "15550199")
        assert [(m["type"], m["contact_id"]) for m in told[1:-1]] == [
            ("connected", live), ("held", live)]
        result = await call.wait()
        assert result.ok, result.describe()
        await eventually(lambda: the_contact(a.rt, "completed"), what="completed")


async def test_a_web_only_nodes_page_gets_back_her_call_on_a_calls_node(
        two_nodes_alice_on_a: tuple[CallsNode, CallsNode, AgentPage],
        start_calls_node: Any, tmp_path: Path) -> None:
    """The deployment of the README: her page reopened on a node serving the web only
    (``serve --no-pbx``) is told her call on b's Asterisk, asked of b."""
    a, b, alice_page = two_nodes_alice_on_a
    _, seeded = start_calls_node
    (tmp_path / "w").mkdir()
    web_cfg = replace(a.rt.config, node="w", state_dir=str(tmp_path / "w"))
    async with runtime(web_cfg, with_pbx=False) as web_rt, phone(b.env, "alice"):
        web = TestClient(TestServer(internal_app(web_rt)))
        await web.start_server()
        try:
            call = caller(b.env, digits="1", hangup_after_ms=9000, caller="15550199")
            await call.start()
            live = (await next_of(alice_page, "connected"))["contact_id"]
            await alice_page.close()
            reopened = await open_agent_page(str(web.make_url("")), "acme", "alice",
                                             seeded["acme.alice.web"])
            try:
                told = [m for m in await reopened.resume_calls() if m["type"] != "state"]
            finally:
                await reopened.close()
            assert [m["type"] for m in told] == ["offer", "connected", "calls"]
            assert told[0]["contact"]["id"] == live and told[-1]["contact_ids"] == [live]
            result = await call.wait()
            assert result.ok, result.describe()
            await eventually(lambda: the_contact(a.rt, "completed"), what="completed")
        finally:
            await web.close()
