"""The whole topology on this machine: a carrier's load (SIPp) enters through Kamailio, which
spreads it over two Asterisk nodes, each beside its own ccari node; both ccari nodes share
one PostgreSQL, the routing leader decides every offer and each call is rung from the node
carrying it.  Every caller is served, both nodes carry calls, no agent ever holds two voice
offers (checked on every event of the contacts' logs) and no agent's phone is rung twice
for one offer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ccari.app import Runtime, runtime
from ccari.config import EdgeConfig
from ccari.edge.render import write
from ccari.edge.rpc import KamailioRpc
from ccari.pbx import PbxProcess, provision, start
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, ContactEvent
from ccari.tenants.pbx import spec_from_db
from tests.cluster.conftest import eventually_true
from tests.cluster.holds import Event, double_holds
from tests.cluster.test_calls_across_nodes import node_config, pbx_config
from tests.support.kamailio import KamailioProcess
from tests.support.pbx import carry_a_load
from tests.support.sipp import Sipp, free_port, free_tcp_port
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP, PHONES, VoiceEnv

pytestmark = pytest.mark.pbx

EDGE_IP = "127.0.0.2"  # Kamailio: the carrier address both Asterisk nodes identify
CALLER_IP = "127.0.0.1"  # the carrier (SIPp) calls the edge from here
AGENTS = 6
CALLS = 24
RATE = 4  # calls a second: more than the agents clear, so callers queue on both nodes


@dataclass
class Topology:
    edge: str  # Kamailio's SIP address (host:port)
    rpc: KamailioRpc
    nodes: dict[str, Runtime]
    pbxs: dict[str, PbxProcess]
    ports: dict[str, int]  # each node's Asterisk SIP port
    uas_port: int


@pytest.fixture
async def topology(cluster_url: str, tmp_path: Path) -> AsyncIterator[Topology]:
    uas_port = free_port(PHONE_IP)
    phones = {p: free_port(PHONE_IP) for p in PHONES}
    edge = EdgeConfig(enabled=True, listen=f"udp:{EDGE_IP}:{free_port(EDGE_IP)}",
                      carriers=(f"{CALLER_IP}/32",),
                      rpc_url=f"http://127.0.0.1:{free_tcp_port()}/RPC", probe_s=1,
                      timeout_ms=500, update_s=0.5, node_capacity=20)

    def config(name: str) -> Any:
        env = VoiceEnv(tmp_path / name, phones, replace(pbx_config(name),
                                                         carrier_match=(EDGE_IP,)))
        env.state_dir.mkdir()
        cfg = node_config(env, cluster_url, name)
        return replace(cfg, edge=edge)

    engine = make_engine(cluster_url)
    async with make_sessionmaker(engine)() as s:
        await carry_a_load(s, config("seed"), AGENTS, prefix="edge", phone_host=PHONE_IP,
                           phone_port=uas_port)
    await engine.dispose()
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        kamailio = KamailioProcess(write(config("edge"), tmp_path / "edge", children=2),
                                   tmp_path / "edge" / "run")
        rpc = KamailioRpc(http, edge.rpc_url)
        await kamailio.start(rpc)
        stack.callback(kamailio.stop)
        nodes, pbxs, ports = {}, {}, {}
        for name in ("a", "b"):  # a first: it leads
            cfg = config(name)
            pbx = await asyncio.to_thread(start, await spec_from_db(cfg), runtime=provision())
            stack.callback(pbx.stop)
            nodes[name] = await stack.enter_async_context(runtime(cfg))
            pbxs[name], ports[name] = pbx, cfg.pbx.sip_port
            if name == "a":
                await eventually_true(lambda: nodes["a"].leadership is not None
                                      and nodes["a"].leadership.leading, "a leads")

        async def both_active() -> bool:
            found = await rpc.destinations()
            return len(found) == 2 and all(d.flags.startswith("A") for d in found)

        await eventually(both_active, 20, "Kamailio using both Asterisk nodes")
        yield Topology(edge.listen.removeprefix("udp:"), rpc, nodes, pbxs, ports, uas_port)


async def serve(topology: Topology, calls: int, *, talk_ms: int) -> tuple[list[Contact], int]:
    """A carrier's ``calls`` at RATE a second through the edge, the agents' phones answering
    at once and hanging up after ``talk_ms``: the contacts once every caller was served,
    and how many times the phones were rung."""
    leader = topology.nodes["a"]
    async with Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=topology.uas_port,
                    calls=None, params={"agent": "edge", "answer_after_ms": 0,
                                        "hangup_after_ms": talk_ms}, timeout_s=120) as phones:
        callers = Sipp("bench_caller.xml", topology.edge, service="15550100",
                       local_ip=CALLER_IP, calls=calls, rate=RATE, max_concurrent=calls,
                       timeout_s=120, params={"caller_prefix": "1202555", "digits": "1",
                                              "dtmf_after_ms": 300, "max_wait_ms": 60000})
        await callers.start()

        async def all_served() -> list[Contact] | None:
            async with leader.sessions() as s:
                rows = list(await s.scalars(select(Contact).where(Contact.medium == "voice")))
            return rows if len(rows) == calls and all(
                c.state == "completed" for c in rows) else None

        served = await eventually(all_served, 60, "every caller served")
        # SIPp lingers half a minute on the ended calls' transactions before it exits: it
        # is stopped once the database says every caller was served.
        await callers.stop(1)
    return served, (await phones.result()).requests.get("INVITE", 0)


async def test_a_carriers_load_through_the_edge_is_served_by_both_nodes(
        topology: Topology) -> None:
    served, rung = await serve(topology, CALLS, talk_ms=2000)
    assert all(c.agent_id is not None and c.disposition == "agent-hangup" for c in served)
    by_node = {name: sum(c.node == name for c in served) for name in topology.nodes}
    assert by_node["a"] > 0 and by_node["b"] > 0, by_node
    async with topology.nodes["a"].sessions() as s:
        events = [Event(e.contact_id, e.kind, e.at, e.data or {}, e.id)
                  for e in await s.scalars(select(ContactEvent))]
    assert double_holds(events) == []
    offers = sum(e.kind == "offered" for e in events)
    assert rung == offers == CALLS  # one ring per offer, none declined
    print(f"calls per node: {by_node}")


async def test_an_asterisk_node_that_stops_gets_no_new_call_and_no_call_fails(
        topology: Topology) -> None:
    """b's Asterisk stops (b's ccari stays): Kamailio's probes find it silent within about
    two probe intervals, and every call after that is served on a."""
    await asyncio.to_thread(topology.pbxs["b"].stop)
    stopped = time.monotonic()

    async def b_inactive() -> bool:
        found = {d.uri.rsplit(":", 1)[1]: d.flags for d in await topology.rpc.destinations()}
        return found.get(str(topology.ports["b"]), "").startswith("I")

    await eventually(b_inactive, 10, "Kamailio to stop using b")
    print(f"b inactive {time.monotonic() - stopped:.2f} s after its Asterisk stopped")
    served, _ = await serve(topology, 8, talk_ms=1000)
    assert {c.node for c in served} == {"a"}
