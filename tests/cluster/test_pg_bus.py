"""The PostgreSQL bus between two nodes: what one node publishes at once arrives in order."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import Node, eventually_true


async def test_messages_published_at_once_arrive_in_order_and_once(
        two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    assert a.rt.bus is not None and b.rt.bus is not None
    got: list[int] = []

    async def keep(payload: dict[str, Any]) -> None:
        got.append(int(payload["i"]))

    b.rt.bus.subscribe("test", keep)
    for i in range(300):  # queued faster than sent: the sender batches them
        await a.rt.bus.publish("test", {"i": i, "pad": "x" * (i % 7) * 500})
    await eventually_true(lambda: len(got) >= 300, "every message")
    assert got == list(range(300))
