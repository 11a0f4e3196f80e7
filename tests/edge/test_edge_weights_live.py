"""The routing leader's weights, from the calls each node carries (``trunk_calls``), reach a
real Kamailio, and the calls follow them."""

from __future__ import annotations

from ccari.edge import repo
from ccari.edge.keeper import WeightKeeper
from tests.edge.conftest import Edge, MediaNode, carrying
from tests.edge.test_edge_spread import call_through, landed
from tests.support.waits import eventually


async def test_the_leaders_weights_follow_the_calls_each_node_carries(
        nodes: tuple[MediaNode, MediaNode], edge: Edge) -> None:
    a, b = nodes
    async with edge.sessions() as s:
        for node in nodes:  # what each node does at start
            assert await repo.register(s, node.name, node.uri, capacity=10)
        await s.commit()
    keeper = WeightKeeper(edge.sessions, edge.rpc, leading=lambda: True,
                          every_s=0.2, default_capacity=10)

    async def weights(expected: dict[MediaNode, int]) -> bool:
        live = {d.uri: d.rweight for d in await edge.destinations()}
        return live == {n.uri: w for n, w in expected.items()}

    await carrying(edge.sessions, {"a": 9})  # a carries 9 of its 10: weight 10; b none: 100
    keeper.start()
    try:
        await eventually(lambda: weights({a: 10, b: 100}), 10, "weights 10/100 in Kamailio")
        before = (await a.processed(), await b.processed())
        await call_through(edge, 55)
        on_a, on_b = await landed(nodes, before)
        print(f"a carrying 9/10, b 0/10: weights 10/100, {on_a} calls on a, {on_b} on b")
        assert on_a + on_b == 55 and on_b >= 44, (on_a, on_b)

        await carrying(edge.sessions, {"b": 10, "a": 2})  # b full: 1; a 8 free of 10: 80
        await eventually(lambda: weights({a: 80, b: 1}), 10, "weights 80/1 in Kamailio")
        before = (await a.processed(), await b.processed())
        await call_through(edge, 54)
        on_a, on_b = await landed(nodes, before)
        print(f"a carrying 2/10, b 10/10: weights 80/1, {on_a} calls on a, {on_b} on b")
        assert on_a + on_b == 54 and on_a >= 50, (on_a, on_b)
    finally:
        await keeper.close()
    reloads = keeper.reloads
    assert not await keeper.tick()  # nothing changed: no reload
    assert keeper.reloads == reloads
