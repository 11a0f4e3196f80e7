"""A leader whose listening connection was away reads again what the other nodes told it
meanwhile (the router rebuilt from the database, its pending offers kept); a reprioritising
on a node that does not lead reaches the leader's router (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, update

from ccari.cluster import postgres as cluster_postgres
from ccari.cluster.nodes import app_name
from ccari.cluster.postgres import dsn_of
from ccari.contacts.lifecycle import State
from ccari.storage.models import Agent, Contact, ContactEvent
from tests.cluster.conftest import Node, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.cluster.test_pages_across_nodes import _agent_id
from tests.public.support import until
from tests.support.waits import eventually


async def listener_away(node: Node, url: str, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """The node's listening connection (named ``ccari:<node>``) ended by the server, and
    not let back until the returned event is set."""
    gate = asyncio.Event()
    connect = asyncpg.connect
    name = app_name(node.name)

    async def held(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        if (kwargs.get("server_settings") or {}).get("application_name") == name:
            await gate.wait()
        return await connect(*args, **kwargs)

    monkeypatch.setattr(cluster_postgres.asyncpg, "connect", held)
    admin = await asyncpg.connect(dsn_of(url))
    try:
        ended = await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = $1", name)
    finally:
        await admin.close()
    assert [row[0] for row in ended] == [True]  # its one listening connection
    bus = node.rt.bus
    assert isinstance(bus, cluster_postgres.PgBus)
    await eventually_true(lambda: bus.connection is None, "listener down")
    return gate


async def back(node: Node, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch,
               epoch: int) -> None:
    """Its listener reconnects; it leads again, its epoch renewed once caught up."""
    monkeypatch.undo()
    gate.set()
    leadership = node.rt.leadership
    assert leadership is not None
    await eventually_true(lambda: leadership.epoch == epoch, f"epoch {epoch}")


async def kinds(node: Node, contact_id: str) -> list[str]:
    async with node.rt.sessions() as s:
        return [e.kind for e in await s.scalars(
            select(ContactEvent).where(ContactEvent.contact_id == contact_id)
            .order_by(ContactEvent.id))]


async def test_what_a_follower_did_while_the_leader_could_not_listen_is_routed_once(
        two_nodes: tuple[Node, Node], cluster_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    leader, other = two_nodes
    bob = await leader.agent("acme", "bob")  # support, one chat offered to him pending
    _, pending = await open_chat(leader, "support")
    assert (await until(bob.ws, "offer"))["contact"]["id"] == pending
    alice = await other.agent("acme", "alice", ready=False)  # sales, her page on the follower
    alice_id, bob_id = await _agent_id(leader, "alice"), await _agent_id(leader, "bob")
    await eventually_true(lambda: leader.rt.queue.pages.connected(alice_id), "page known")

    gate = await listener_away(leader, cluster_url, monkeypatch)
    # Meanwhile, on the follower: alice goes ready, a customer opens a chat (both saved,
    # told to a leader that cannot hear).
    await alice.ws.send_json({"type": "presence", "presence": "ready"})
    _, waiting = await open_chat(other)

    async def ready_saved() -> bool:
        async with other.rt.sessions() as s:
            return await s.scalar(select(Agent.presence).where(Agent.id == alice_id)) == "ready"

    await eventually(ready_saved, timeout=10.0, what="alice's presence saved")
    assert leader.rt.queue.agent_state(alice_id) == "not_ready"  # as seeded: not heard
    assert leader.rt.queue.view(waiting) is None

    await back(leader, gate, monkeypatch, epoch=2)
    # Caught up: the chat offered to alice, once; bob's offer kept as it was.
    assert (await until(alice.ws, "offer"))["contact"]["id"] == waiting
    assert leader.rt.queue.agent_state(alice_id) == "reserved"
    assert leader.rt.queue.agent_state(bob_id) == "reserved"
    await alice.ws.send_json({"type": "accept", "contact_id": waiting})
    assert (await until(alice.ws, "connected"))["contact_id"] == waiting
    await bob.ws.send_json({"type": "accept", "contact_id": pending})
    assert (await until(bob.ws, "connected"))["contact_id"] == pending
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "busy", "alice busy")
    await eventually_true(lambda: leader.rt.queue.agent_state(bob_id) == "busy", "bob busy")
    assert (await kinds(leader, waiting)).count("offered") == 1
    assert [k for k in await kinds(leader, pending) if k in ("queued", "offered", "connected")
            ] == ["offered", "connected"]  # never taken back from bob


async def test_offers_answered_while_the_leader_could_not_listen(
        two_nodes: tuple[Node, Node], cluster_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    leader, other = two_nodes
    alice = await other.agent("acme", "alice")  # three chat slots, her page on the follower
    alice_id = await _agent_id(leader, "alice")
    _, done = await open_chat(other)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == done
    await alice.ws.send_json({"type": "accept", "contact_id": done})
    await until(alice.ws, "connected", contact_id=done)
    _, taken = await open_chat(other)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == taken
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "reserved")

    gate = await listener_away(leader, cluster_url, monkeypatch)
    # Meanwhile, on her node: she completes one chat and accepts the other.
    await alice.ws.send_json({"type": "complete", "contact_id": done})
    await until(alice.ws, "completed", contact_id=done)
    await alice.ws.send_json({"type": "accept", "contact_id": taken})
    await until(alice.ws, "connected", contact_id=taken)
    assert leader.rt.queue.agent_state(alice_id) == "reserved"  # not heard

    await back(leader, gate, monkeypatch, epoch=2)
    # Caught up: she holds the one she accepted, and has room for more.
    await eventually_true(lambda: leader.rt.queue.agent_state(alice_id) == "busy", "busy")
    _, more = await open_chat(leader)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == more
    async with leader.rt.sessions() as s:
        states = {c.id: c.state for c in await s.scalars(select(Contact))}
    assert states == {done: State.COMPLETED, taken: State.CONNECTED, more: State.OFFERED}


async def test_a_reprioritising_on_a_follower_changes_the_leaders_order(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    alice_id = await _agent_id(leader, "alice")
    async with leader.rt.sessions() as s:  # one chat at a time: the first offer shows the order
        row = await s.get(Agent, alice_id)
        assert row is not None
        slots = {**row.slots, "per_medium": {**row.slots["per_medium"], "chat": 1}}
        await s.execute(update(Agent).where(Agent.id == alice_id).values(slots=slots))
        await s.commit()
        tenant_id = row.tenant_id
    _, first = await open_chat(other)
    _, second = await open_chat(other)
    _, third = await open_chat(other)

    def order() -> list[str]:
        return [item.id for item in leader.rt.queue.router.waiting(str(tenant_id))]

    await eventually_true(lambda: order() == [first, second, third], "queued at the leader")

    # A supervisor on the follower moves the second up and the first an hour later.
    await other.rt.queue.reprioritise(tenant_id, second, 10)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).timestamp()
    await other.rt.queue.reschedule(tenant_id, first, later)
    await eventually_true(lambda: order() == [second, third], "second first, first later")

    alice = await other.agent("acme", "alice")
    assert (await until(alice.ws, "offer"))["contact"]["id"] == second
