"""Every node knows each agent's routing state, as the leader's router has it: a supervisor
on any node sees who is ready, and a call carried by a node that does not route can be
handed to a ready colleague (ccari.voice.transfer_targets reads that state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.cluster.conftest import Node, cut, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.cluster.test_routing_leader import no_offer
from tests.public.support import until


async def states_seen(sam: Any) -> dict[int, tuple[str, str | None]]:
    agents = (await (await sam.http.get("/supervisor/api/pending")).json())["agents"]
    return {a["id"]: (a["state"], a["reason"]) for a in agents}


async def test_a_supervisor_on_the_other_node_sees_her_agents_states(
        two_nodes: tuple[Node, Node], cluster_url: str) -> None:
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    alice = await leader.agent("acme", "alice")  # her page on the leader, ready
    sam = await other.agent("acme", "sam", ready=False)  # the supervisor, on the other node
    await eventually_true(lambda: other.rt.queue.agent_state(alice_id) == "ready",
                          "alice ready, as b knows")
    assert (await states_seen(sam))[alice_id] == ("ready", None)
    await alice.presence("not_ready")
    await eventually_true(lambda: other.rt.queue.agent_state(alice_id) == "not_ready",
                          "alice not ready, as b knows")
    assert (await states_seen(sam))[alice_id] == ("not_ready", None)

    # The lead moves to b: a, no longer routing, knows the states from b's router.
    await cut(leader.rt.leadership.connection, cluster_url)  # type: ignore[union-attr]
    await eventually_true(lambda: other.rt.leadership is not None
                          and other.rt.leadership.leading, "b leading")
    await eventually_true(lambda: leader.rt.leadership is not None
                          and not leader.rt.leadership.leading, "a no longer leading")
    await alice.presence("ready")
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "ready",
                          "alice ready, as a knows from b")


async def test_a_node_starting_later_is_told_every_state(
        start_node: Callable[[str], Awaitable[Node]]) -> None:
    a = await start_node("a")
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading,
                          "a leading")
    alice_id = await _agent_id(a, "alice")
    await a.agent("acme", "alice")
    await eventually_true(lambda: a.rt.queue.agent_state(alice_id) == "ready", "alice ready")
    b = await start_node("b")
    await eventually_true(lambda: b.rt.queue.agent_state(alice_id) == "ready",
                          "alice ready, as b knows from its start")
    assert b.rt.queue.agent_state(await _agent_id(a, "bob")) == "logged_out"


async def test_a_colleague_on_a_call_the_other_node_carries_is_offered_no_work_meanwhile(
        two_nodes: tuple[Node, Node]) -> None:
    """Alice is consulted on a call b carries (b does not route): the leader hears of it, so
    she is offered no queued work until that call leaves her, then is ready again."""
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    alice = await leader.agent("acme", "alice")
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "ready", "ready")
    await other.rt.queue.set_engaged(alice_id, True)  # as b's consult rings her
    await eventually_true(lambda: leader.rt.queue.agent_reason(alice_id) == "in_call",
                          "alice in a call, as the leader knows")
    _, chat = await open_chat(leader)
    assert await no_offer(alice.ws, within_s=0.5)
    await other.rt.queue.set_engaged(alice_id, False)  # the consult is over
    assert (await until(alice.ws, "offer"))["contact"]["id"] == chat
