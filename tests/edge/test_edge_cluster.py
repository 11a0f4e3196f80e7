"""In a cluster only the routing leader keeps the weights: two ccari nodes (no PBX) on one
PostgreSQL, each told a Kamailio RPC of its own (played by a small HTTP server) so that
who reloads is seen."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from ccari.app import Runtime, runtime
from ccari.config import Config, EdgeConfig
from ccari.demo.seed import seed
from ccari.edge import repo
from ccari.edge.models import EdgeDestination
from ccari.storage.db import make_engine, make_sessionmaker
from tests.cluster.conftest import node_config
from tests.edge.conftest import carrying
from tests.edge.test_edge_keeper import fake_kamailio
from tests.support.kamailio import RPC_KEY
from tests.support.sipp import free_tcp_port
from tests.support.waits import eventually


def edge_node(tmp_path: Path, url: str, name: str, rpc_port: int) -> Config:
    return replace(node_config(tmp_path, url, name), edge=EdgeConfig(
        enabled=True, rpc_url=f"http://127.0.0.1:{rpc_port}/RPC", rpc_key=RPC_KEY, update_s=0.1,
        node_capacity=10))


async def test_only_the_routing_leader_keeps_the_weights_and_the_next_one_takes_over(
        edge_url: str, tmp_path: Path) -> None:
    engine = make_engine(edge_url)
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        await seed(s, node_config(tmp_path, edge_url, "a"))
        for node in ("a", "b"):
            await repo.register(s, node, f"sip:10.0.0.{len(node)}:5060", capacity=10)
        await s.commit()
    await carrying(sessions, {"a": 5})

    async def weights() -> dict[str, str]:
        async with sessions() as s:
            return {d.description: d.attrs for d in await s.scalars(select(EdgeDestination))}

    def leads(rt: Runtime) -> bool:
        return rt.leadership is not None and rt.leadership.leading

    port_a, port_b = free_tcp_port(), free_tcp_port()
    try:
        async with fake_kamailio(port_a) as kam_a, fake_kamailio(port_b) as kam_b, \
                contextlib.AsyncExitStack() as node_a:
            a = await node_a.enter_async_context(
                runtime(edge_node(tmp_path, edge_url, "a", port_a), with_pbx=False))

            async def a_reloaded() -> bool:
                return leads(a) and "dispatcher.reload" in kam_a.methods()

            await eventually(a_reloaded, 10, "node a leading and reloading Kamailio")
            assert (await weights())["a"] == "rweight=50;capacity=10"
            async with runtime(edge_node(tmp_path, edge_url, "b", port_b), with_pbx=False) as b:
                await carrying(sessions, {"a": 8})

                async def a_updated() -> bool:  # written, then Kamailio reloaded
                    return ((await weights())["a"] == "rweight=20;capacity=10"
                            and kam_a.methods().count("dispatcher.reload") == 2)

                await eventually(a_updated, 10, "the leader's new weight, reloaded")
                assert not leads(b) and kam_b.calls == []  # a follower writes nothing

                await node_a.aclose()  # the leader stops: b leads, reloads, keeps the weights
                await carrying(sessions, {"a": 10})

                async def b_took_over() -> bool:
                    return (leads(b) and "dispatcher.reload" in kam_b.methods()
                            and (await weights())["a"] == "rweight=1;capacity=10")

                await eventually(b_took_over, 10, "node b leading and keeping the weights")
    finally:
        await engine.dispose()
