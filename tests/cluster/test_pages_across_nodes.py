"""An agent whose page is on a node that does not route: the leader offers her work through
the bus, and what she does on her page reaches the leader (real PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from ccari.cluster.repo import pages_elsewhere
from ccari.contacts.lifecycle import State
from ccari.storage.models import Agent, Contact, ContactEvent, Tenant
from tests.cluster.conftest import Node, cut, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_routing_leader import no_offer
from tests.public.support import until


async def test_an_agent_on_the_other_node_takes_the_leaders_offers(
        two_nodes: tuple[Node, Node], cluster_url: str) -> None:
    leader, other = two_nodes
    assert leader.rt.leadership is not None and other.rt.leadership is not None
    alice = await other.agent("acme", "alice", ready=False)  # her page on the follower
    await alice.ws.send_json({"type": "presence", "presence": "ready"})
    assert (await until(alice.ws, "state", state="ready"))["reason"] is None  # the leader's

    # The customer on the leader; the leader offers her chat to alice's page elsewhere.
    ws, contact_id = await open_chat(leader)
    offer = await until(alice.ws, "offer")
    assert offer["contact"]["id"] == contact_id
    assert offer["accept_within_s"] > 0
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    assert (await until(alice.ws, "connected"))["contact_id"] == contact_id
    assert (await until(ws, "state"))["state"] == "connected"
    await ws.send_json({"type": "message", "body": "hello", "client_id": "c1"})
    got = await until(alice.ws, "chat.message", contact_id=contact_id, sender="customer")
    assert got["body"] == "hello"
    await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id, "body": "hi"})
    assert (await until(ws, "message", sender="agent"))["body"] == "hi"
    # The leader heard of the accept: her slot is busy there, its offer timer stopped.
    assert leader.rt.offers is not None
    await eventually_true(lambda: contact_id not in leader.rt.offers._offered, "timer stopped")

    # Not ready on her node: the leader offers her nothing more.
    await alice.ws.send_json({"type": "presence", "presence": "not_ready"})
    await until(alice.ws, "state", state="not_ready")
    _, waiting = await open_chat(leader)
    assert await no_offer(alice.ws, within_s=1.0)

    # The leader dies; her own node takes over: ready again, she is offered what waits,
    # once, and not the chat she holds.
    await cut(leader.rt.leadership.connection, cluster_url)
    await eventually_true(lambda: other.rt.leadership is not None
                          and other.rt.leadership.leading, "her node leading")
    await alice.ws.send_json({"type": "presence", "presence": "ready"})
    assert (await until(alice.ws, "offer"))["contact"]["id"] == waiting
    assert await no_offer(alice.ws, within_s=1.0)

    async with other.rt.sessions() as s:
        contacts = {c.id: c for c in await s.scalars(select(Contact))}
        events = list(await s.scalars(select(ContactEvent).order_by(ContactEvent.id)))
    assert contacts[contact_id].state == State.CONNECTED
    assert contacts[waiting].state == State.OFFERED
    offered = [e.contact_id for e in events if e.kind == "offered"]
    assert offered.count(contact_id) == 1 and offered.count(waiting) == 1



async def test_the_leader_knows_which_agents_have_a_page_on_another_node(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    await alice.close()  # her last page on that node: no page work for her any more
    await eventually_true(lambda: not leader.rt.queue.pages.connected(alice_id), "page gone")
    async with leader.rt.sessions() as s:
        assert await pages_elsewhere(s, leader.name) == {}


async def _agent_id(node: Node, username: str) -> int:
    async with node.rt.sessions() as s:
        found = await s.scalar(select(Agent.id).join(Tenant, Tenant.id == Agent.tenant_id)
                               .where(Tenant.slug == "acme", Agent.username == username))
    assert found is not None
    return int(found)
