"""Two real Asterisk media nodes, a PostgreSQL database and real Kamailio processes: the SIP
edge on this machine.

The nodes are Asterisk instances of their own (own ports, the carrier trunk identified by
127.0.0.2, the edge's address) with one number, answered and held until the caller hangs
up; ccari is not needed on them.  Each test gets a fresh database and its own Kamailio,
rendered by ccari from its ``[edge]`` settings, listening on 127.0.0.2 on free ports.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.admission.models import TrunkCall
from ccari.config import Config, DatabaseConfig, EdgeConfig
from ccari.edge import repo
from ccari.edge.models import EdgeDestination
from ccari.edge.render import write
from ccari.edge.rpc import KamailioRpc, LiveDestination
from ccari.edge.weights import WEIGHT
from ccari.pbx import (
    PbxProcess,
    PbxSpec,
    Ports,
    StartError,
    Trunk,
    load_or_create_secrets,
    provision,
    start,
)
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Tenant
from tests.conftest import _fresh_pg_db
from tests.support.kamailio import RPC_KEY, KamailioProcess
from tests.support.sipp import free_port, free_tcp_port
from tests.support.waits import eventually

EDGE_IP = "127.0.0.2"  # the edge's address: the carrier address the nodes identify
NODE_IP = "127.0.0.1"
CARRIER_IP = "127.0.0.1"  # where the tests' carrier (SIPp) calls from
NUMBER = "15550177"  # answered on both nodes, held until the caller hangs up
SHORT_NUMBER = "15550178"  # answered, hung up by the node after 0.2 s
REFUSED_ON_A = "15550179"  # node a refuses it with 503 (congestion), node b answers
PROBE_S = 1
TIMEOUT_MS = 500


@dataclass(eq=False)  # hashed by identity: weights are keyed by node
class MediaNode:
    """One Asterisk media node (``name`` is the ccari node it would sit beside)."""

    name: str
    spec: PbxSpec
    proc: PbxProcess | None = None

    @property
    def uri(self) -> str:
        return f"sip:{NODE_IP}:{self.spec.ports.sip}"

    def start(self) -> None:
        self.proc = start(self.spec)
        for line in (f"{NUMBER},1,Answer()", f"{NUMBER},2,Wait(60)", f"{NUMBER},3,Hangup()",
                     f"{SHORT_NUMBER},1,Answer()", f"{SHORT_NUMBER},2,Wait(0.2)",
                     f"{SHORT_NUMBER},3,Hangup()",
                     *((f"{REFUSED_ON_A},1,Hangup(34)",) if self.name == "a" else
                       (f"{REFUSED_ON_A},1,Answer()", f"{REFUSED_ON_A},2,Wait(60)"))):
            self.proc.rx(f"dialplan add extension {line} into from-carrier")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None

    def counts(self) -> tuple[int, int]:
        """(active channels, calls processed since it started)."""
        assert self.proc is not None
        out = self.proc.rx("core show channels count")
        found = {}
        for line in out.splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2 and parts[0].isdigit():
                # "1 call processed", "2 calls processed"
                found[parts[1].strip().replace("calls", "call").replace("channels", "channel")
                      ] = int(parts[0])
        return found["active channel"], found["call processed"]

    async def processed(self) -> int:
        return (await asyncio.to_thread(self.counts))[1]


def _node(name: str, state_dir: Path, rtp_start: int) -> MediaNode:
    creds = load_or_create_secrets(state_dir)
    instance = f"edge{name}{os.getpid()}"
    ports = Ports(sip=free_port(NODE_IP), ari=free_port(NODE_IP, socket.SOCK_STREAM),
                  ami=free_port(NODE_IP, socket.SOCK_STREAM), rtp_start=rtp_start,
                  rtp_end=rtp_start + 998)
    return MediaNode(name, PbxSpec(
        instance=instance, app_name=f"ccari-{instance}", ari_user=creds["ari_user"],
        ari_password=creds["ari_password"], ami_user=creds["ami_user"],
        ami_secret=creds["ami_secret"], ports=ports, trunks=(Trunk("carrier", (EDGE_IP,)),)))


def _started(name: str, state_dir: Path, rtp_start: int) -> MediaNode:
    """A node started on free ports (picked again if another process took one meanwhile)."""
    for attempt in range(3):
        node = _node(name, state_dir, rtp_start)
        try:
            node.start()
            return node
        except StartError as exc:
            if attempt == 2 or "is taken" not in str(exc):
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def media_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MediaNode, MediaNode]]:
    provision()
    # RTP below the kernel's ephemeral ports (32768 up), where free_port picks the others.
    a = _started("a", tmp_path_factory.mktemp("edge-a"), 30000)
    try:
        b = _started("b", tmp_path_factory.mktemp("edge-b"), 31000)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def _idle(node: MediaNode) -> bool:
    return not node.running or node.counts()[0] == 0


@pytest.fixture
async def nodes(media_nodes: tuple[MediaNode, MediaNode]) -> AsyncIterator[tuple[MediaNode, MediaNode]]:
    """Both nodes running (a test may have stopped one), and no channel left after the test."""
    for node in media_nodes:
        if not node.running:
            await asyncio.to_thread(node.start)
    yield media_nodes
    for node in media_nodes:
        async def idle(node: MediaNode = node) -> bool:
            return await asyncio.to_thread(_idle, node)

        await eventually(idle, 10, f"node {node.name} to have no channel left")


@dataclass
class Edge:
    """A running Kamailio in front of the nodes, and the database it reads."""

    config: Config
    process: KamailioProcess
    rpc: KamailioRpc
    sessions: async_sessionmaker[AsyncSession]
    target: str
    started: float = field(default_factory=time.monotonic)

    async def destinations(self) -> list[LiveDestination]:
        return await self.rpc.destinations()

    async def set_weights(self, weights: Mapping[MediaNode, int]) -> None:
        """The table holds exactly these nodes with these weights; Kamailio reloaded."""
        async with self.sessions() as s:
            await s.execute(delete(EdgeDestination))
            for node, weight in weights.items():
                s.add(EdgeDestination(setid=repo.SET_ID, destination=node.uri,
                                      description=node.name, attrs=f"{WEIGHT}={weight}"))
            await s.commit()
        await self.rpc.reload()

    async def state(self, node: MediaNode) -> str:
        for d in await self.destinations():
            if d.uri == node.uri:
                return d.flags
        return ""


async def carrying(sessions: async_sessionmaker[AsyncSession], calls: dict[str, int]) -> None:
    """The live calls per node are exactly these."""
    async with sessions() as s:
        await s.execute(delete(TrunkCall))
        tenant = await s.get(Tenant, 1)
        if tenant is None:
            s.add(Tenant(id=1, slug="acme", name="Acme"))
            await s.flush()
        for node, n in calls.items():
            s.add_all(TrunkCall(call_id=f"{node}-{i}", tenant_id=1, node=node,
                                direction="inbound") for i in range(n))
        await s.commit()



@pytest.fixture
async def edge_url(pg_server: str) -> str:
    url = await _fresh_pg_db(pg_server)
    await upgrade_async(url)
    return url


@pytest.fixture
async def edge(edge_url: str, tmp_path: Path) -> AsyncIterator[Edge]:
    rpc_port = free_tcp_port()
    cfg = Config(state_dir=str(tmp_path), database=DatabaseConfig(url=edge_url),
                 edge=EdgeConfig(enabled=True, listen=f"udp:{EDGE_IP}:{free_port(EDGE_IP)}",
                                 carriers=(f"{CARRIER_IP}/32",),
                                 rpc_url=f"http://127.0.0.1:{rpc_port}/RPC",
                                 rpc_clients=(f"{NODE_IP}/32",), probe_s=PROBE_S,
                                 timeout_ms=TIMEOUT_MS, update_s=0.2, node_capacity=10,
                                 rpc_key=RPC_KEY))
    path = write(cfg, tmp_path / "edge", children=2)
    engine = make_engine(edge_url)
    process = KamailioProcess(path, tmp_path / "edge" / "run")
    async with aiohttp.ClientSession() as http:
        rpc = KamailioRpc(http, cfg.edge.rpc_url, cfg.edge.rpc_key)
        await process.start(rpc)
        try:
            yield Edge(cfg, process, rpc, make_sessionmaker(engine),
                       target=cfg.edge.listen.removeprefix("udp:"))
        finally:
            process.stop()
            await engine.dispose()
