"""Carrier calls through a real Kamailio land on two real Asterisk nodes by their weights."""

from __future__ import annotations

from tests.edge.conftest import NUMBER, SHORT_NUMBER, Edge, MediaNode
from tests.support.sipp import run_sipp
from tests.support.waits import eventually


async def call_through(edge: Edge, calls: int, *, rate: float = 25) -> None:
    """``calls`` calls through the edge, every one answered (200, ACK, BYE through it)."""
    result = await run_sipp("edge_caller.xml", edge.target, service=NUMBER, calls=calls,
                            rate=rate, max_concurrent=20, params={"hold_ms": 100},
                            timeout_s=40)
    assert result.ok and result.successful == calls, result.describe()
    assert 503 not in result.responses, result.describe()


async def landed(nodes: tuple[MediaNode, MediaNode], before: tuple[int, int]) -> tuple[int, int]:
    a, b = nodes
    return (await a.processed() - before[0], await b.processed() - before[1])


async def test_calls_land_on_both_nodes_in_proportion_to_their_weights(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    a, b = nodes
    await edge.set_weights({a: 80, b: 20})

    async def loaded() -> bool:
        return {d.rweight for d in await edge.destinations()} == {80, 20}

    await eventually(loaded, 5, "Kamailio to hold the weights")
    before = (await a.processed(), await b.processed())
    await call_through(edge, 100)
    on_a, on_b = await landed(nodes, before)
    print(f"weights 80/20: {on_a} calls on a, {on_b} on b")
    assert on_a + on_b == 100
    assert 65 <= on_a <= 92, (on_a, on_b)


async def test_the_nodes_in_dialog_requests_reach_the_caller_through_the_edge(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    """The node hangs up: its BYE follows the edge's Record-Route back to the caller."""
    a, b = nodes
    await edge.set_weights({a: 50, b: 50})
    result = await run_sipp("edge_caller_hungup.xml", edge.target, service=SHORT_NUMBER,
                            calls=6, rate=10, timeout_s=20)
    assert result.ok and result.successful == 6, result.describe()
    assert result.requests.get("BYE") == 6
