"""Agents' SIP phones registered once, at the SIP edge: Kamailio is their registrar (digest
against the SIP passwords in ccari's database), and both Asterisk nodes ring them through
it.  A phone is reachable for every node from the moment it registers; a caller on either
node reaches the same phone, even behind NAT (it names a private address the edge does not
use); wrong passwords are refused, and an address that keeps trying is blocked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.config import Config, DatabaseConfig, EdgeConfig, SecurityConfig
from ccari.demo.seed import seed
from ccari.edge.models import LOCATION_TABLE, EdgeLocation
from ccari.edge.render import write
from ccari.edge.rpc import KamailioRpc
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent, Contact
from ccari.tenants import repo as tenants_repo
from tests.cluster.edge_topology import CALLER_IP, EDGE_IP, Topology, running
from tests.support.kamailio import RPC_KEY, KamailioProcess
from tests.support.pbx import add_phone_agents, carry_a_load
from tests.support.sipp import Sipp, free_port, free_tcp_port, run_sipp
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP

pytestmark = pytest.mark.pbx

PHONE = "reg-a0"  # the one agent's phone (add_phone_agents' naming)
BEHIND_NAT = "10.9.9.9:5060"  # the address the phone names: nothing listens there
PASSWORD = "reg-phone-pw"
GUESSER_IP = "127.0.0.23"  # an address no other test blocks or uses


async def register_at_edge(s: AsyncSession) -> None:
    """Her phone has no fixed contact: it registers."""
    agent = await s.scalar(select(Agent).where(Agent.phone_username == PHONE))
    assert agent is not None
    agent.phone_contact = None
    await s.commit()


@pytest.fixture
async def topology(cluster_url: str, tmp_path: Path) -> AsyncIterator[Topology]:
    async def one_agent(s: AsyncSession, cfg: Config) -> None:
        await carry_a_load(s, cfg, 1, prefix="reg", phone_host=PHONE_IP, phone_port=5060)
        await register_at_edge(s)

    async with running(cluster_url, tmp_path, one_agent, phones=True, qualify_s=2,
                       uas_port=free_port(PHONE_IP)) as topology:
        yield topology


async def phone_state(topology: Topology, node: str) -> str:
    ari = topology.nodes[node].ari
    assert ari is not None
    return next(e.state for e in await ari.list_endpoints("PJSIP") if e.resource == PHONE)


async def register(edge: str, *, password: str = PASSWORD, contact: str | None = None,
                   local_ip: str = PHONE_IP, local_port: int = 0) -> dict[int, int]:
    """The responses to a registration of the agent's phone: {401: 1, 200: 1} registered.
    ``contact``: the host:port it names (default where it sends from)."""
    host, _, port = (contact or "[local_ip]:[local_port]").rpartition(":")
    result = await run_sipp("phone_register.xml", edge, local_ip=local_ip, timeout_s=20,
                            local_port=local_port,
                            params={"user": PHONE, "password": password,
                                    "contact_host": host, "contact_port": port})
    assert result.ok, result.describe()
    return dict(result.responses)


async def test_a_phone_registered_once_at_the_edge_is_rung_from_either_node(
        topology: Topology) -> None:
    for node in topology.nodes:  # not registered: the edge leaves both nodes' checks unanswered
        await eventually(lambda node=node: _is(topology, node, "offline"), 15,
                         f"{PHONE} unreachable from {node}")
    # Behind NAT: it registers from the port it takes calls on, naming a private address.
    assert await register(topology.edge, contact=BEHIND_NAT,
                          local_port=topology.uas_port) == {401: 1, 200: 1}
    async with Sipp("agent_qualify.xml", local_ip=PHONE_IP, local_port=topology.uas_port,
                    calls=None, timeout_s=120,
                    params={"agent": PHONE, "answer_after_ms": 0, "hangup_after_ms": 1500,
                            "contact": BEHIND_NAT}) as phone:
        for node in topology.nodes:
            await eventually(lambda node=node: _is(topology, node, "online"), 15,
                             f"{PHONE} reachable from {node}")
        served = {}
        for node, port in topology.ports.items():  # a caller on each node, one after the other
            caller = Sipp("bench_caller.xml", f"127.0.0.1:{port}", service="15550100",
                          local_ip=EDGE_IP, calls=1, timeout_s=60,
                          params={"caller_prefix": "1202555", "digits": "1",
                                  "dtmf_after_ms": 300, "max_wait_ms": 30000})
            await caller.start()
            served[node] = await eventually(lambda node=node: _completed(topology, node), 30,
                                            f"the caller on {node} served")
            await caller.stop(1)
    rung = (await phone.result()).requests.get("INVITE", 0)
    for node in topology.nodes:  # the phone gone silent, still registered: unreachable
        await eventually(lambda node=node: _is(topology, node, "offline"), 15,
                         f"{PHONE} unreachable from {node} once silent")
    async with topology.nodes["a"].sessions() as s:
        alice = await s.scalar(select(Agent).where(Agent.phone_username == PHONE))
    assert alice is not None
    assert {node: (c.agent_id, c.disposition) for node, c in served.items()} == {
        "a": (alice.id, "agent-hangup"), "b": (alice.id, "agent-hangup")}
    assert rung == 2  # one ring per call, each through the edge from its own node


async def _is(topology: Topology, node: str, state: str) -> bool:
    return await phone_state(topology, node) == state


async def _completed(topology: Topology, node: str) -> Contact | None:
    async with topology.nodes["a"].sessions() as s:
        return await s.scalar(select(Contact).where(
            Contact.medium == "voice", Contact.node == node, Contact.state == "completed"))


@dataclass
class EdgeAlone:
    address: str  # host:port
    kamailio: KamailioProcess
    rpc: KamailioRpc
    url: str  # the shared database


@pytest.fixture
async def edge_alone(cluster_url: str, tmp_path: Path) -> AsyncIterator[EdgeAlone]:
    """Kamailio as the phones' registrar over the shared database, no node needed."""
    listen = f"udp:{EDGE_IP}:{free_port(EDGE_IP)}"
    cfg = Config(state_dir=str(tmp_path), database=DatabaseConfig(url=cluster_url),
                 edge=EdgeConfig(enabled=True, phones=True, listen=listen,
                                 carriers=(f"{CALLER_IP}/32",),
                                 rpc_url=f"http://127.0.0.1:{free_tcp_port()}/RPC",
                                 rpc_key=RPC_KEY),
                 security=SecurityConfig(max_failures=3, window_s=60, block_s=600))
    engine = make_engine(cluster_url)
    async with make_sessionmaker(engine)() as s:
        await seed(s, cfg)
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        add_phone_agents(s, acme.id, 1, prefix="reg", phone_host=PHONE_IP, phone_port=5060)
        await s.commit()
        await register_at_edge(s)
    await engine.dispose()
    kamailio = KamailioProcess(write(cfg, tmp_path / "edge", children=2), tmp_path / "run")
    async with aiohttp.ClientSession() as http:
        rpc = KamailioRpc(http, cfg.edge.rpc_url, cfg.edge.rpc_key)
        await kamailio.start(rpc)
        try:
            yield EdgeAlone(listen.removeprefix("udp:"), kamailio, rpc, cluster_url)
        finally:
            kamailio.stop()


async def test_wrong_passwords_are_refused_and_an_address_that_keeps_trying_is_blocked(
        edge_alone: EdgeAlone) -> None:
    edge = edge_alone.address
    for _ in range(3):  # challenged again: the phone's user would be asked for it again
        assert await register(edge, password="guess",
                              local_ip=GUESSER_IP) == {401: 2}
    # Three failures within the window: that address is refused, the right password too.
    assert await register(edge, local_ip=GUESSER_IP) == {403: 1}
    # The agent's own phone, elsewhere, registers all the same.
    assert await register(edge) == {401: 1, 200: 1}


async def test_a_registration_outlives_a_restart_of_the_edge(edge_alone: EdgeAlone) -> None:
    """Written through to the shared database and read back when Kamailio starts: a phone
    stays reachable without registering again."""
    assert await register(edge_alone.address, contact="127.0.0.77:5070") == {401: 1, 200: 1}
    engine = make_engine(edge_alone.url)
    try:
        async with make_sessionmaker(engine)() as s:
            saved = [(r.username, r.contact) for r in await s.scalars(select(EdgeLocation))]
    finally:
        await engine.dispose()
    assert saved == [(PHONE, f"sip:{PHONE}@127.0.0.77:5070")]

    edge_alone.kamailio.stop()
    await edge_alone.kamailio.start(edge_alone.rpc)
    found = await edge_alone.rpc.call("ul.lookup", LOCATION_TABLE, PHONE)
    assert "127.0.0.77:5070" in json.dumps(found)
