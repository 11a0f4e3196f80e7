"""A node that dies with calls: the leader closes them once the node has been absent for the
node timeout (real PostgreSQL, two nodes).  Without that, the leader would keep a dead
node's caller offered to an agent whose phone nobody rings, her slot held for ever."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import func, select

from ccari.admission.models import TrunkCall
from ccari.callbacks.models import Callback
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.storage.models import Agent, Contact
from ccari.tenants import repo as tenants_repo
from tests.cluster.conftest import CHECK_S, NODE_TIMEOUT_S, Node, cut, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_dead_node import crash
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.cluster.test_routing_leader import no_offer
from tests.public.support import until
from tests.support.waits import eventually


async def call_on(node: Node, state: str, skill: str, number: str, **fields: Any) -> Contact:
    """A call of ``node``'s Asterisk as that node saved it, holding a trunk."""
    now = dt.datetime.now(dt.UTC)
    async with node.rt.sessions() as s:
        tenant = await tenants_repo.by_slug(s, "acme")
        assert tenant is not None
        contact = await contacts_repo.create(
            s, tenant_id=tenant.id, medium="voice", state=state, node=node.name,
            caller_number=number, attributes={"skill": skill}, arrived_at=now - dt.timedelta(
                seconds=30), queued_at=now - dt.timedelta(seconds=20), **fields)
        contact.channel_id = f"in-{contact.id}"
        s.add(TrunkCall(call_id=contact.channel_id, tenant_id=tenant.id, node=node.name,
                        direction="inbound"))
        await s.commit()
    return contact


async def state_of(node: Node, contact_id: str) -> Contact | None:
    async with node.rt.sessions() as s:
        return await contacts_repo.get(s, contact_id)


async def test_a_dead_nodes_calls_are_closed_and_its_waiting_callers_called_back(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    alice = await leader.agent("acme", "alice")  # ready, her page on the leader
    # On b: a sales caller (offered to alice: b is to ring her), a support caller nobody
    # takes (bob is away), and a call b had connected to bob.
    offered = await call_on(other, "queued", "sales", "12025550147")
    await other.rt.queue.enqueue(offered)  # b tells the leader, which offers it to alice

    async def offered_to_alice() -> bool:
        row = await state_of(leader, offered.id)
        return row is not None and row.state == "offered" and row.agent_id == alice_id

    await eventually(offered_to_alice, what="the leader's offer of b's call to alice")
    waiting = await call_on(other, "queued", "support", "12025550148")
    await other.rt.queue.enqueue(waiting)
    bob_id = await _agent_id(leader, "bob")
    talking = await call_on(other, "connected", "support", "12025550149", agent_id=bob_id,
                            connected_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    assert leader.rt.queue.agent_state(alice_id) == "reserved"  # held by the offer

    await crash(other)
    died = time.monotonic()

    async def closed(contact: Contact, state: str) -> Contact | None:
        row = await state_of(leader, contact.id)
        return row if row is not None and row.state == state else None

    lost = await eventually(lambda: closed(offered, "failed"), what="b's offered call closed")
    assert time.monotonic() - died < NODE_TIMEOUT_S + 5 * CHECK_S + 1.0
    assert lost.disposition == "media-node-lost" and lost.agent_id is None
    # Not her miss: alice is free again, ready, no reason; her page drops the offer.
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "ready", "alice free")
    assert leader.rt.queue.agent_reason(alice_id) is None
    while (msg := await alice.ws.receive_json(timeout=5))["type"] != "withdrawn":
        pass
    assert msg["contact_id"] == offered.id
    also = await eventually(lambda: closed(waiting, "failed"), what="b's waiting call closed")
    assert also.disposition == "media-node-lost"
    ended = await eventually(lambda: closed(talking, "completed"), what="b's connected call")
    assert ended.disposition == "media-node-lost" and ended.talk_s and ended.talk_s >= 10
    async with leader.rt.sessions() as s:
        trunks = await s.scalar(select(func.count()).select_from(TrunkCall))
        callbacks = {c.phone: c for c in await s.scalars(select(Callback))}
    assert trunks == 0  # every trunk b held is free for the tenant's next calls
    # The two callers who were waiting are called back (the demo tenant allows it), in their
    # place; the caller who was talking to bob is not.
    assert set(callbacks) == {"+12025550147", "+12025550148"}
    assert all(c.source == "lost" for c in callbacks.values())
    assert callbacks["+12025550147"].place_at == offered.queued_at


async def test_the_agent_of_a_dead_nodes_connected_call_is_away_until_she_says_ready(
        two_nodes: tuple[Node, Node]) -> None:
    """Her call may go on in the dead node's Asterisk, which nobody watches: she is not
    ready ("call lost"), not offered work, until she presses Ready."""
    leader, other = two_nodes
    bob_id = await _agent_id(leader, "bob")
    talking = await call_on(other, "connected", "support", "12025550149", agent_id=bob_id,
                            connected_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    bob = await leader.agent("acme", "bob")  # his page on the leader; on b's call
    await eventually_true(lambda: leader.rt.queue.agent_state(bob_id) == "busy", "bob busy")
    _, chat = await open_chat(leader, "support")

    await crash(other)
    ended = await eventually(lambda: _in_state(leader, talking.id, "completed"),
                             what="b's connected call closed")
    assert ended.disposition == "media-node-lost"
    state = await until(bob.ws, "state", state="not_ready")
    assert state["reason"] == "call_lost"
    assert leader.rt.queue.agent_reason(bob_id) == "call_lost"
    async with leader.rt.sessions() as s:
        saved = await s.get(Agent, bob_id)
    assert saved is not None and (saved.presence, saved.away_reason) == (
        "not_ready", "call_lost")  # what a new leader shows too
    assert await no_offer(bob.ws, within_s=0.5)
    assert (await state_of(leader, chat)) is not None

    await bob.presence("ready")
    assert (await until(bob.ws, "offer"))["contact"]["id"] == chat


async def test_a_call_the_dead_node_answered_without_telling_the_leader_frees_its_agent(
        two_nodes: tuple[Node, Node]) -> None:
    """b saved alice's answer and died before the leader's router heard of it (its router
    still had her reserved by the offer): closing the call ends it in the router too. She is
    away ("call lost") and, once she says ready, offered the next contact."""
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    alice = await leader.agent("acme", "alice")
    call = await call_on(other, "queued", "sales", "12025550147")
    await other.rt.queue.enqueue(call)
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "reserved",
                          "the leader's offer of b's call to alice")
    async with other.rt.sessions() as s:  # b saves her answer, then dies before telling
        row = await contacts_repo.get(s, call.id)
        assert row is not None
        row.state, row.connected_at = "connected", dt.datetime.now(dt.UTC)
        await s.commit()

    await crash(other)
    ended = await eventually(lambda: _in_state(leader, call.id, "completed"),
                             what="b's connected call closed")
    assert ended.disposition == "media-node-lost"
    assert (await until(alice.ws, "state", state="not_ready"))["reason"] == "call_lost"
    _, chat = await open_chat(leader, "sales")
    await alice.presence("ready")
    assert (await until(alice.ws, "offer"))["contact"]["id"] == chat
    assert leader.rt.queue.agent_state(alice_id) == "reserved"


async def test_an_agent_whose_page_and_call_went_with_a_dead_node_comes_back_not_ready(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    bob_id = await _agent_id(leader, "bob")
    talking = await call_on(other, "connected", "support", "12025550149", agent_id=bob_id,
                            connected_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    await other.agent("acme", "bob")  # his page on b, with his call
    await eventually_true(lambda: leader.rt.queue.agent_state(bob_id) == "busy", "bob busy")

    await crash(other)
    await eventually(lambda: _in_state(leader, talking.id, "completed"),
                     what="b's connected call closed")
    await eventually_true(lambda: leader.rt.queue.agent_state(bob_id) == "logged_out",
                          "bob out of routing (no page)")
    back = await leader.agent("acme", "bob", ready=False)
    await eventually_true(lambda: leader.rt.queue.agent_state(bob_id) == "not_ready",
                          "bob back, not ready")
    assert leader.rt.queue.agent_reason(bob_id) == "call_lost"
    assert (await until(back.ws, "state", state="not_ready"))["reason"] == "call_lost"


async def _in_state(node: Node, contact_id: str, state: str) -> Contact | None:
    row = await state_of(node, contact_id)
    return row if row is not None and row.state == state else None


class Rings:
    """Stands in for the voice ACD of a node without a PBX: records what it is asked to ring."""

    def __init__(self) -> None:
        self.rung: list[tuple[str, int]] = []
        self.recalled: list[tuple[str, int]] = []

    async def deliver(self, contact: Contact, agent: Any) -> None:
        self.rung.append((contact.id, agent.id))

    async def recall(self, contact: Contact, agent: Any) -> None:
        self.recalled.append((contact.id, agent.id))


async def test_a_ring_whose_message_was_lost_is_rung_once_the_bus_is_back(
        two_nodes: tuple[Node, Node]) -> None:
    """b's listener missed the leader's "ring" (PostgreSQL drops notifications to a
    connection that is away): when b listens again it rings the offers of its calls."""
    leader, other = two_nodes
    rings = Rings()
    other.rt.queue.register("voice", rings)
    handlers = other.rt.bus._handlers._by_topic["calls"]  # type: ignore[attr-defined]
    dropped: list[dict[str, Any]] = []

    async def lost(payload: dict[str, Any]) -> None:
        dropped.append(payload)

    handlers[:] = [lost]  # b hears no ring until its listener is back
    alice_id = await _agent_id(leader, "alice")
    await leader.agent("acme", "alice")
    call = await call_on(other, "queued", "sales", "12025550147")
    await other.rt.queue.enqueue(call)
    await eventually_true(lambda: bool(dropped), "the ring b did not hear")
    assert rings.rung == []
    await other.rt.bus._handlers.resync()  # type: ignore[attr-defined]  # as a reconnect does
    await eventually_true(lambda: bool(rings.rung), "b rings what it missed")
    assert rings.rung == [(call.id, alice_id)]


async def ringing_alice(leader: Node, other: Node) -> tuple[Rings, Contact, int]:
    """A sales call of b's, offered by the leader to alice (her page on the leader), rung by
    b (a stand-in that records it)."""
    rings = Rings()
    other.rt.queue.register("voice", rings)
    alice_id = await _agent_id(leader, "alice")
    await leader.agent("acme", "alice")
    call = await call_on(other, "queued", "sales", "12025550147")
    await other.rt.queue.enqueue(call)
    await eventually_true(lambda: rings.rung == [(call.id, alice_id)], "b rings alice")
    return rings, call, alice_id


async def test_her_logout_on_the_leader_ends_the_ring_on_the_node_carrying_the_call(
        two_nodes: tuple[Node, Node]) -> None:
    """Alice logs out while b's call rings her phone: b, which rings it, is told to end
    that ring (not left ringing her while routing hands the call on)."""
    leader, other = two_nodes
    rings, call, alice_id = await ringing_alice(leader, other)
    async with leader.rt.sessions() as s:
        alice = await s.get(Agent, alice_id)
    assert alice is not None
    await leader.rt.queue.set_presence(alice, "logged_out")
    await eventually_true(lambda: rings.recalled == [(call.id, alice_id)], "b ends her ring")


async def test_a_call_requeued_by_its_nodes_reconcile_is_offered_again_by_the_leader(
        two_nodes: tuple[Node, Node]) -> None:
    """b restarted (quicker than the node timeout) while the leader offered its call to
    alice: nobody rang her, and b's reconcile puts the call back in the queue.  The leader's
    router drops that offer and routes the call again: alice is not held reserved by it."""
    leader, other = two_nodes
    rings, call, alice_id = await ringing_alice(leader, other)
    # b's reconcile: the offer made while it was away goes back to queued (as moves.requeued)
    async with other.rt.sessions() as s:
        row = await contacts_repo.get(s, call.id)
        assert row is not None
        await contacts_repo.apply(s, row, Fact.DECLINED, at=dt.datetime.now(dt.UTC),
                                  agent_id=None, agent_channel_id=None)
        await s.commit()
    await other.rt.queue.route_afresh(row)
    await eventually_true(lambda: len(rings.rung) == 2, "the call offered again")
    assert rings.rung[1] == (call.id, alice_id)
    again = await state_of(leader, call.id)
    assert again is not None and (again.state, again.offer_count) == ("offered", 2)


async def test_a_new_leader_keeps_ringing_calls_offered_to_the_agents_they_ring(
        two_nodes: tuple[Node, Node], cluster_url: str) -> None:
    """The leader changes while two of b's calls ring alice's and vera's phones: the new
    router has each offered to the agent it rings (her answer or her ring's end tells it),
    not waiting, to be handed to whichever agent comes first while it rings another."""
    leader, other = two_nodes
    rings, first, alice_id = await ringing_alice(leader, other)
    vera_id = await _agent_id(leader, "vera")
    await leader.agent("acme", "vera")
    second = await call_on(other, "queued", "sales", "12025550148", priority=10)
    await other.rt.queue.enqueue(second)
    await eventually_true(lambda: len(rings.rung) == 2, "b rings vera")
    assert rings.rung[1] == (second.id, vera_id)

    await cut(leader.rt.leadership.connection, cluster_url)
    await eventually_true(lambda: other.rt.leadership is not None
                          and other.rt.leadership.leading, "b leading")
    queue = other.rt.queue
    await eventually_true(lambda: queue.router.offered_to(first.id) is not None, "b routing")
    assert (queue.router.offered_to(first.id), queue.router.offered_to(second.id)) == (
        str(alice_id), str(vera_id))
    assert len(rings.rung) == 2  # each rung once
    await other.rt.queue.accepted(second.id)  # vera answers
    assert other.rt.queue.agent_state(vera_id) == "busy"
    assert other.rt.queue.agent_state(alice_id) == "reserved"
