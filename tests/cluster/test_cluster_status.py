"""The cluster's state for its operator (``GET /api/cluster``, the admin token only): two
nodes on a real PostgreSQL, then one node alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient

from ccari.cluster.postgres import PgBus
from tests.cluster.conftest import Node, eventually_true
from tests.cluster.test_dead_node import crash
from tests.cluster.test_dead_node_calls import call_on
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.support.waits import eventually

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


async def state(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/cluster", headers=ADMIN)
    assert response.status == 200, await response.text()
    return dict(await response.json())


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in body["nodes"]}


async def test_the_operator_sees_every_node_its_pages_calls_and_the_leader(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    await other.agent("acme", "alice")  # her page on b
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    bob_id = await _agent_id(leader, "bob")
    await call_on(other, "connected", "support", "12025550149", agent_id=bob_id,
                  connected_at=dt.datetime.now(dt.UTC))

    body = await state(other.internal)  # asked of either node: the same cluster
    assert (body["cluster"], body["node"]) == (True, "b")
    assert body["leader"]["node"] == "a" and body["leader"]["epoch"] >= 1
    assert by_name(body) == {
        "a": {"name": "a", "connected": True, "kind": "web", "calls": 0, "agent_pages": 0},
        "b": {"name": "b", "connected": True, "kind": "web", "calls": 1, "agent_pages": 1}}
    assert body["media_nodes"] == [] and body["edge"] == []

    # A tenant's token is refused: the cluster is the platform's.
    acme = {"Authorization": f"Bearer {leader.demo['acme.token']}"}
    refused = await leader.internal.get("/api/cluster", headers=acme)
    assert refused.status == 403 and (await refused.json())["error"] == "admin-only"
    assert (await leader.internal.get("/api/cluster")).status == 401

    # Each node's own figures: who leads, whether its bus listens.
    for node, leading in ((leader, 1), (other, 0)):
        text = await (await node.internal.get("/metrics")).text()
        assert f"ccari_cluster_leading {leading}\n" in text
        assert "ccari_cluster_listening 1\n" in text

    # b dies: disconnected at once; once the leader has closed its call and forgotten its
    # page, nothing names it any more.
    assert isinstance(other.rt.bus, PgBus)
    await crash(other)
    first = by_name(await state(leader.internal))
    assert "b" not in first or not first["b"]["connected"]

    async def b_gone() -> bool:
        return "b" not in by_name(await state(leader.internal))

    await eventually(b_gone, what="b forgotten")
    assert by_name(await state(leader.internal))["a"]["connected"]


async def test_a_node_alone_answers_for_itself(client: TestClient, rt: Any) -> None:
    body = await state(client)
    assert body == {"cluster": False, "node": rt.config.node,
                    "leader": {"node": rt.config.node, "epoch": None},
                    "nodes": [{"name": rt.config.node, "connected": True, "kind": "web",
                               "calls": 0, "agent_pages": 0}],
                    "media_nodes": [], "edge": []}
