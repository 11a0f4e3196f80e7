"""A node that dies without stopping: the leader forgets its pages within the node timeout,
takes back what it offered to them without counting a miss, shows their agents logged out,
and offers to them again once their page is back on another node (real PostgreSQL)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import select, text

from ccari.cluster import repo
from ccari.cluster.nodes import app_name
from ccari.cluster.postgres import PgBus
from ccari.cluster.routing import ClusterRole
from ccari.contacts.lifecycle import State
from ccari.storage.models import Agent, Contact
from tests.cluster.conftest import CHECK_S, NODE_TIMEOUT_S, Node, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.cluster.test_routing_leader import no_offer
from tests.public.support import until

if TYPE_CHECKING:
    from tests.cluster.test_calls_across_nodes import CallsNode


async def crash(node: Node | CallsNode) -> None:
    """As kill -9: its tasks end and its connections with them (the listening one first),
    and nothing of its shutdown runs (its page rows stay)."""
    rt = node.rt
    assert isinstance(rt.bus, PgBus) and rt.leadership is not None
    role = rt.queue._role
    assert isinstance(role, ClusterRole)
    await rt.bus._tasks.close()
    await rt.leadership.close()
    await role.cluster_pages._tasks.close()


async def _listening(node: Node, name: str) -> bool:
    async with node.rt.sessions() as s:
        found = await s.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE application_name = :app"), {"app": app_name(name)})
    return bool(found)


async def test_the_leader_forgets_a_dead_nodes_pages_without_a_miss(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    assert leader.rt.offers is not None
    assert await _listening(leader, "b")  # each node's proof of life
    alice = await other.agent("acme", "alice")  # her page on b
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    _, offered = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == offered

    await crash(other)
    died = time.monotonic()
    assert not await _listening(leader, "b")
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "logged_out",
                          "alice logged out")
    assert time.monotonic() - died < NODE_TIMEOUT_S + 5 * CHECK_S + 1.0
    assert not leader.rt.queue.pages.connected(alice_id)
    assert offered not in leader.rt.offers._offered  # its timer stopped: no lapse to come
    # What was offered to her waits again, and nothing more is offered to her page.
    _, waiting = await open_chat(leader)
    async with leader.rt.sessions() as s:
        rows = {c.id: c for c in await s.scalars(select(Contact))}
        presence = await s.scalar(select(Agent.presence).where(Agent.id == alice_id))
    assert rows[offered].state == State.QUEUED and rows[offered].agent_id is None
    assert rows[waiting].state == State.QUEUED
    assert presence == "ready"  # no miss counted: the presence she chose stays
    assert leader.rt.queue.agent_reason(alice_id) is None
    sam = await leader.agent("acme", "sam", ready=False)  # the supervisor, on the leader
    agents = (await (await sam.http.get("/supervisor/api/pending")).json())["agents"]
    assert {a["id"]: (a["state"], a["reason"]) for a in agents}[alice_id] == (
        "logged_out", None)

    # Her page back, through the leader's node: logged in again as she was (ready) and
    # offered both.
    back = await leader.agent("acme", "alice", ready=False)
    assert back.hello is not None and back.hello["state"] == "logged_out"
    assert {(await until(back.ws, "offer"))["contact"]["id"] for _ in range(2)} == {
        offered, waiting}
    assert leader.rt.queue.agent_state(alice_id) == "reserved"
    assert leader.rt.queue.agent_reason(alice_id) is None
    assert await no_offer(alice.ws, within_s=0.3)  # nothing to the dead node's page


async def test_a_node_whose_listener_comes_back_says_its_pages_again(
        two_nodes: tuple[Node, Node]) -> None:
    """A node taken for dead that was not (its listener away past the timeout) says again
    which pages it serves once it listens again."""
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    async with leader.rt.sessions() as s:  # as if the leader had forgotten them
        await repo.forget_node(s, "b")
        await s.commit()
    role = leader.rt.queue._role
    assert isinstance(role, ClusterRole)
    await role.pages_lost("b", [alice_id])
    assert leader.rt.queue.agent_state(alice_id) == "logged_out"
    assert isinstance(other.rt.bus, PgBus) and other.rt.bus.connection is not None
    await other.rt.bus.connection.close()  # its listener reconnects, then resyncs
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "ready",
                          "alice back")
    _, contact_id = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == contact_id


async def test_the_chat_she_had_accepted_still_fills_a_slot_when_her_page_is_back(
        two_nodes: tuple[Node, Node]) -> None:
    """Her chat goes on while her node is dead (it is hers); with her page back elsewhere,
    she is offered only what her other slots take, and its end frees its slot."""
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")  # her page on b; three chats at most
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    _, handled = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == handled
    await alice.ws.send_json({"type": "accept", "contact_id": handled})
    await until(alice.ws, "chat.history", contact_id=handled)

    await crash(other)
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "logged_out",
                          "alice logged out")
    waiting = [(await open_chat(leader))[1] for _ in range(3)]
    back = await leader.agent("acme", "alice", ready=False)
    offered = {(await until(back.ws, "offer"))["contact"]["id"] for _ in range(2)}
    assert offered == set(waiting[:2])
    assert await no_offer(back.ws, within_s=0.5)  # her third slot is the chat she handles
    async with leader.rt.sessions() as s:
        row = await s.get(Contact, handled)
    assert row is not None and row.state == State.CONNECTED and row.agent_id == alice_id

    await back.ws.send_json({"type": "complete", "contact_id": handled, "disposition": "ok"})
    assert (await until(back.ws, "offer"))["contact"]["id"] == waiting[2]


async def test_a_chat_she_took_on_a_node_that_died_before_telling_the_leader_stays_hers(
        two_nodes: tuple[Node, Node]) -> None:
    """b saved her accept and died before the leader's router heard it (it still had the
    chat offered to her): her logout of routing does not hand the chat she is writing in
    to another agent."""
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")  # her page on b
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    _, taken = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == taken
    async with other.rt.sessions() as s:  # b saves her accept, then dies before telling
        row = await s.get(Contact, taken)
        assert row is not None
        row.state = State.CONNECTED
        await s.commit()

    await crash(other)
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "logged_out",
                          "alice logged out")
    vera = await leader.agent("acme", "vera")
    assert await no_offer(vera.ws, within_s=0.5)
    assert leader.rt.queue.router.offered_to(taken) is None
    assert leader.rt.queue.agent_state(await _agent_id(leader, "vera")) == "ready"


async def test_a_new_leader_keeps_an_agent_whose_page_died_logged_out_until_it_is_back(
        two_nodes: tuple[Node, Node]) -> None:
    """The leader that saw her page go saved it: a router rebuilt by a leader that never
    knew (here the same node, its memory emptied) shows her logged out too."""
    leader, other = two_nodes
    await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    await crash(other)
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "logged_out",
                          "alice logged out")
    queue = leader.rt.queue
    await queue.stop_routing()
    queue._page_lost.clear()
    await queue.start()
    assert queue.agent_state(alice_id) == "logged_out"
    _, waiting = await open_chat(leader)

    back = await leader.agent("acme", "alice", ready=False)
    assert (await until(back.ws, "offer"))["contact"]["id"] == waiting
    async with leader.rt.sessions() as s:
        row = await s.get(Agent, alice_id)
    assert row is not None and row.presence == "ready" and not row.page_lost
