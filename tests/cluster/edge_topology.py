"""The whole topology on this machine, for the tests that need it: Kamailio (the SIP edge,
rendered by ccari) in front of two Asterisk nodes, each beside its own ccari node, both
ccari nodes on one PostgreSQL; node a leads routing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.app import Runtime, runtime
from ccari.config import Config, EdgeConfig
from ccari.edge.render import write
from ccari.edge.rpc import KamailioRpc
from ccari.pbx import PbxProcess, provision, start
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.tenants.pbx import spec_from_db
from tests.cluster.conftest import eventually_true
from tests.cluster.test_calls_across_nodes import node_config, pbx_config
from tests.support.kamailio import RPC_KEY, KamailioProcess
from tests.support.sipp import free_port, free_tcp_port
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP, PHONES, VoiceEnv

EDGE_IP = "127.0.0.2"  # Kamailio: the carrier address both Asterisk nodes identify
CALLER_IP = "127.0.0.1"  # the carrier (SIPp) calls the edge from here


@dataclass
class Topology:
    edge: str  # Kamailio's SIP address (host:port)
    rpc: KamailioRpc
    nodes: dict[str, Runtime]
    pbxs: dict[str, PbxProcess]
    ports: dict[str, int]  # each node's Asterisk SIP port
    kamailio: KamailioProcess
    uas_port: int  # the agents' phones' one SIPp UAS, when the seed put them there


@contextlib.asynccontextmanager
async def running(cluster_url: str, tmp_path: Path,
                  seed: Callable[[AsyncSession, Config], Awaitable[None]], *,
                  phones: bool = False, qualify_s: int = 0, uas_port: int = 0,
                  node_capacity: int = 20) -> AsyncIterator[Topology]:
    """The topology once Kamailio uses both Asterisk nodes.  ``seed(session, config)``
    fills the shared database first (both Asterisk nodes are rendered from it);
    ``phones``: the agents' SIP phones register at the edge; ``qualify_s``: the nodes'
    Asterisk check the agents' phones that often."""
    edge = EdgeConfig(enabled=True, listen=f"udp:{EDGE_IP}:{free_port(EDGE_IP)}",
                      carriers=(f"{CALLER_IP}/32",),
                      rpc_url=f"http://127.0.0.1:{free_tcp_port()}/RPC", probe_s=1,
                      timeout_ms=500, update_s=0.5, node_capacity=node_capacity, phones=phones,
                      rpc_key=RPC_KEY)
    ports_of_phones = {p: free_port(PHONE_IP) for p in PHONES}

    def config(name: str) -> Config:
        env = VoiceEnv(tmp_path / name, ports_of_phones,
                       replace(pbx_config(name), carrier_match=(EDGE_IP,),
                               agent_qualify_s=qualify_s))
        env.state_dir.mkdir(exist_ok=True)
        return replace(node_config(env, cluster_url, name), edge=edge)

    engine = make_engine(cluster_url)
    async with make_sessionmaker(engine)() as s:
        await seed(s, config("seed"))
    await engine.dispose()
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        kamailio = KamailioProcess(write(config("edge"), tmp_path / "edge", children=2),
                                   tmp_path / "edge" / "run")
        rpc = KamailioRpc(http, edge.rpc_url, edge.rpc_key)
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
        yield Topology(edge.listen.removeprefix("udp:"), rpc, nodes, pbxs, ports, kamailio,
                       uas_port)
