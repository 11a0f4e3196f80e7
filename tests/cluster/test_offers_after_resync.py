"""An offer made while the listener of the node serving the agent's page was away reaches
her page once that node listens again, with the time left to accept it (real PostgreSQL,
two nodes).  Without that it would lapse unseen and count as her miss."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import update

from ccari.cluster.postgres import PgBus
from ccari.cluster.routing import ClusterRole
from ccari.contacts.lifecycle import State
from ccari.storage.models import ContactEvent
from tests.cluster.conftest import Node, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_dead_node_calls import state_of
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.cluster.test_routing_leader import no_offer
from tests.public.support import until


def _deaf(node: Node) -> tuple[list[Any], list[dict[str, Any]], list[Any]]:
    """The node hears nothing of its pages' topic (PostgreSQL drops what is notified to a
    listener that is away): its handlers, what it did not hear, and the heard ones to put
    back."""
    assert isinstance(node.rt.bus, PgBus)
    handlers = node.rt.bus._handlers._by_topic["pages"]
    heard, dropped = list(handlers), list[dict[str, Any]]()

    async def lost(payload: dict[str, Any]) -> None:
        dropped.append(payload)

    handlers[:] = [lost]
    return handlers, dropped, heard


def _pages(node: Node) -> Any:
    role = node.rt.queue._role
    assert isinstance(role, ClusterRole)
    return role.cluster_pages


async def test_an_offer_the_pages_node_did_not_hear_is_shown_once_it_listens_again(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    assert leader.rt.offers is not None
    timeout = leader.rt.offers.accept_timeout_s
    alice = await other.agent("acme", "alice")  # ready, her page on the follower
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")

    handlers, dropped, heard = _deaf(other)
    _, contact_id = await open_chat(leader)
    await eventually_true(lambda: any(p.get("k") == "offer" and p.get("c") == contact_id
                                      for p in dropped), "the offer b did not hear")
    offered = time.monotonic()
    assert await no_offer(alice.ws, within_s=1.0)

    # b listens again (its listening connection lost, then reconnected): her page is told.
    handlers[:] = heard
    assert other.rt.bus.connection is not None
    await other.rt.bus.connection.close()
    offer = await until(alice.ws, "offer")
    assert offer["contact"]["id"] == contact_id
    assert offer["contact"]["medium"] == "chat"
    assert 0 < offer["accept_within_s"] <= timeout - (time.monotonic() - offered) + 0.1
    assert offer["accept_within_s"] < timeout - 0.9  # the time left, not the full time

    # She takes it as any offer: connected, the leader's timer stopped, not her miss.
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    assert (await until(alice.ws, "connected"))["contact_id"] == contact_id
    await eventually_true(lambda: contact_id not in leader.rt.offers._offered, "timer stopped")
    row = await state_of(leader, contact_id)
    assert row is not None and row.state == State.CONNECTED and row.agent_id == alice_id
    assert leader.rt.queue.agent_reason(alice_id) is None


async def test_an_offer_her_page_shows_is_not_told_again(two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    _, contact_id = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == contact_id

    await _pages(other).offers_missed()
    assert await no_offer(alice.ws, within_s=0.5)  # shown once: no Accept pressed twice


async def test_an_offer_whose_time_is_up_is_not_told_again(two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    assert leader.rt.offers is not None
    timeout = leader.rt.offers.accept_timeout_s
    alice = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    handlers, dropped, heard = _deaf(other)
    _, contact_id = await open_chat(leader)
    await eventually_true(lambda: any(p.get("c") == contact_id for p in dropped),
                          "the offer b did not hear")
    handlers[:] = heard

    async with other.rt.sessions() as s:  # as if it had been made a timeout ago
        await s.execute(update(ContactEvent).where(
            ContactEvent.contact_id == contact_id, ContactEvent.kind == "offered",
        ).values(at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=timeout)))
        await s.commit()
    await _pages(other).offers_missed()
    assert await no_offer(alice.ws, within_s=0.5)


async def test_an_offer_withdrawn_while_the_node_was_away_goes_from_her_page(
        two_nodes: tuple[Node, Node]) -> None:
    """The customer left while the node serving her page did not listen: once it listens
    again, her page drops the offer (before, it kept an Accept that was then refused)."""
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    customer, contact_id = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == contact_id

    handlers, dropped, heard = _deaf(other)
    await customer.send_json({"type": "close"})
    await eventually_true(lambda: any(p.get("m", {}).get("type") == "withdrawn"
                                      for p in dropped), "the withdrawal b did not hear")
    handlers[:] = heard
    assert other.rt.bus is not None and other.rt.bus.connection is not None
    await other.rt.bus.connection.close()  # b listens again
    withdrawn = await until(alice.ws, "withdrawn")
    assert withdrawn["contact_id"] == contact_id


async def test_an_offer_she_took_on_another_page_shows_connected_once_the_node_listens(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    here = await other.agent("acme", "alice")
    alice_id = await _agent_id(leader, "alice")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")
    there = await leader.agent("acme", "alice", ready=False)  # her second page
    _, contact_id = await open_chat(leader)
    assert (await until(here.ws, "offer"))["contact"]["id"] == contact_id
    assert (await until(there.ws, "offer"))["contact"]["id"] == contact_id

    handlers, _, heard = _deaf(other)
    await there.ws.send_json({"type": "accept", "contact_id": contact_id})
    assert (await until(there.ws, "connected"))["contact_id"] == contact_id
    handlers[:] = heard
    await _pages(other).offers_missed()
    connected = await until(here.ws, "connected")
    assert connected["contact_id"] == contact_id and connected["medium"] == "chat"
