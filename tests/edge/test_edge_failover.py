"""A media node that stops: Kamailio stops sending to it within about twice the probe
interval, every new call goes to the other node, and it comes back when it answers again.
No node left: the caller gets 503."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from ccari.edge.keeper import WeightKeeper
from ccari.edge.models import EdgeDestination
from ccari.edge.repo import SET_ID
from ccari.edge.rpc import EdgeRpcError, KamailioRpc
from tests.edge.conftest import (
    NUMBER,
    PROBE_S,
    REFUSED_ON_A,
    TIMEOUT_MS,
    Edge,
    MediaNode,
    carrying,
)
from tests.edge.test_edge_spread import call_through, landed
from tests.support.kamailio import RPC_KEY
from tests.support.sipp import free_port, run_sipp
from tests.support.waits import eventually


async def test_a_stopped_node_is_inactive_within_twice_the_probe_and_calls_go_to_the_other(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    a, b = nodes
    await edge.set_weights({a: 50, b: 50})

    async def both_probed() -> bool:
        return all(d.flags == "AP" for d in await edge.destinations())

    await eventually(both_probed, 5, "both nodes answering OPTIONS")
    await asyncio.to_thread(b.stop)
    stopped = time.monotonic()

    async def b_inactive() -> bool:
        return (await edge.state(b)).startswith("I")

    await eventually(b_inactive, 2 * PROBE_S + 3, "b inactive in dispatcher.list")
    took = time.monotonic() - stopped
    print(f"b inactive {took:.2f}s after it stopped (probe {PROBE_S}s, timeout {TIMEOUT_MS}ms)")
    assert took <= 2 * PROBE_S + 0.5
    before = await a.processed()
    await call_through(edge, 30)
    assert await a.processed() - before == 30

    # The leader's reload (the weights changed) keeps b inactive: Kamailio forgets it.
    keeper = WeightKeeper(edge.sessions, edge.rpc, leading=lambda: True,
                          every_s=1, default_capacity=10)
    await carrying(edge.sessions, {"a": 1})
    assert await keeper.tick()
    assert (await edge.state(b)).startswith("I")
    before = await a.processed()
    await call_through(edge, 10)
    assert await a.processed() - before == 10

    await asyncio.to_thread(b.start)
    restarted = time.monotonic()

    async def b_active() -> bool:
        return (await edge.state(b)).startswith("A")

    await eventually(b_active, 2 * PROBE_S + 3, "b active again")
    print(f"b active {time.monotonic() - restarted:.2f}s after it started again")
    before_both = (await a.processed(), await b.processed())
    await call_through(edge, 20)
    on_a, on_b = await landed(nodes, before_both)
    assert on_a + on_b == 20 and on_b > 0, (on_a, on_b)


async def test_a_call_with_no_node_left_gets_503(edge: Edge) -> None:
    dead = f"sip:127.0.0.1:{free_port('127.0.0.1')}"  # nothing answers there
    async with edge.sessions() as s:
        s.add(EdgeDestination(setid=SET_ID, destination=dead, description="gone",
                              attrs="rweight=100"))
        await s.commit()
    await edge.rpc.reload()
    # Before the probe found it dead (the call times out on it) and after.
    for _ in range(2):
        result = await run_sipp("edge_caller.xml", edge.target, service=NUMBER, calls=1,
                                timeout_s=20)
        assert result.responses.get(503) == 1, result.describe()
        assert (await edge.destinations())[0].inactive


async def test_a_node_that_does_not_answer_the_invite_is_failed_over_at_once(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    a, _ = nodes
    dead = f"sip:127.0.0.1:{free_port('127.0.0.1')}"
    async with edge.sessions() as s:
        s.add(EdgeDestination(setid=SET_ID, destination=dead, description="gone",
                              attrs="rweight=100"))
        s.add(EdgeDestination(setid=SET_ID, destination=a.uri, description=a.name,
                              attrs="rweight=1"))
        await s.commit()
    await edge.rpc.reload()  # both active until probed: the first call tries the dead one
    before = await a.processed()
    started = time.monotonic()
    await call_through(edge, 1)
    print(f"a call failed over from a silent node in {time.monotonic() - started:.2f}s")
    assert await a.processed() - before == 1
    states = {d.uri: d.flags for d in await edge.destinations()}
    assert states[dead].startswith("I") and states[a.uri].startswith("A"), states


async def test_a_call_from_elsewhere_than_the_carriers_is_refused_at_the_edge(edge: Edge) -> None:
    result = await run_sipp("caller_status.xml", edge.target, service=NUMBER, calls=1,
                            local_ip="127.0.0.3", params={"status": 403}, timeout_s=20)
    assert result.ok and result.responses.get(403) == 1, result.describe()


async def test_the_rpc_answers_only_the_ccari_nodes(edge: Edge) -> None:
    """JSON-RPC from an address outside ``edge.rpc_clients`` is refused: nobody else can
    reload, disable or list the destinations."""
    body = {"jsonrpc": "2.0", "method": "dispatcher.list", "id": 1}
    elsewhere = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=elsewhere) as http:
        async with http.post(edge.config.edge.rpc_url, json=body) as r:
            assert r.status == 403
            assert "result" not in await r.text()
    assert await edge.destinations() == []  # the nodes' own address: answered


async def test_the_rpc_answers_only_requests_with_the_nodes_key(edge: Edge) -> None:
    """From the nodes' own address, a request without the key, or with another, is refused
    (401) before it reaches the dispatcher; the node's client says which setting differs."""
    body = {"jsonrpc": "2.0", "method": "dispatcher.reload", "id": 1}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer another-key-0123456789"},
                        {"Authorization": f"Basic {RPC_KEY}"}):
            async with http.post(edge.config.edge.rpc_url, json=body, headers=headers) as r:
                assert r.status == 401, headers
                assert "result" not in await r.text()
        stranger = KamailioRpc(http, edge.config.edge.rpc_url, "another-key-0123456789")
        with pytest.raises(EdgeRpcError, match="edge.rpc_key"):
            await stranger.reload()
    await edge.rpc.reload()  # with the key: answered


async def test_a_call_a_node_refuses_with_5xx_goes_to_the_next_node(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    a, b = nodes
    await edge.set_weights({a: 100, b: 1})
    before = (await a.processed(), await b.processed())
    result = await run_sipp("edge_caller.xml", edge.target, service=REFUSED_ON_A, calls=10,
                            rate=10, params={"hold_ms": 100}, timeout_s=20)
    assert result.ok and result.successful == 10 and 503 not in result.responses, \
        result.describe()
    on_a, on_b = await landed(nodes, before)
    assert on_b == 10 and on_a >= 8, (on_a, on_b)  # a refused (nearly) all first
    assert all(d.active for d in await edge.destinations())  # a 503 is no outage
