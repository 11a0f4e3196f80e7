"""A chat whose customer is on one node and whose agent is on another (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from ccari.chat import http as chat_http
from ccari.chat import repo as chat_repo
from ccari.cluster import postgres as cluster_postgres
from ccari.storage.models import Contact
from tests.cluster.conftest import Node, cut, eventually_true
from tests.public.support import customer_ws, new_session, until


async def open_chat(node: Node, topic: str = "sales") -> tuple[Any, str]:
    token = (await new_session(node.public))["token"]
    ws = await customer_ws(node.public, token)
    assert (await until(ws, "state"))["state"] == "none"
    await ws.send_json({"type": "open", "topic": topic, "page_url": "http://shop.example/"})
    state = await until(ws, "state")
    assert state["state"] == "queued", state
    return ws, state["contact_id"]


async def test_a_chat_goes_both_ways_between_two_nodes(two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    # The customer on the node that does not route; her chat is offered by the leader to
    # alice, whose page is open there.
    ws, contact_id = await open_chat(other)
    await ws.send_json({"type": "message", "body": "first", "client_id": "c1"})
    assert (await until(ws, "message", sender="customer"))["seq"] == 1
    alice = await leader.agent("acme", "alice")
    offer = await until(alice.ws, "offer")
    assert offer["contact"]["id"] == contact_id
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    history = await until(alice.ws, "chat.history", contact_id=contact_id)
    assert [m["body"] for m in history["messages"]] == ["first", "Alice Sales joined the chat"]
    assert (await until(ws, "state"))["state"] == "connected"
    assert (await until(ws, "message", sender="system"))["seq"] == 2

    # Typing, both ways.
    await alice.ws.send_json({"type": "chat.typing", "contact_id": contact_id, "typing": True})
    assert (await until(ws, "typing"))["typing"] is True
    await ws.send_json({"type": "typing", "typing": True})
    assert (await until(alice.ws, "chat.typing"))["contact_id"] == contact_id

    # Messages both ways, sent at once from both sides: each side sees every one, in seq
    # order, once.
    for i in range(5):
        await ws.send_json({"type": "message", "body": f"customer {i}", "client_id": f"k{i}"})
        await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id,
                                  "body": f"agent {i}"})
    customer_seen = [(await until(ws, "message"))["seq"] for _ in range(10)]
    agent_seen = [(await until(alice.ws, "chat.message", contact_id=contact_id))["seq"]
                  for _ in range(10)]
    assert customer_seen == list(range(3, 13))
    assert agent_seen == list(range(3, 13))
    async with leader.rt.sessions() as s:
        saved = await chat_repo.transcript(s, 1, contact_id)
    assert [m.seq for m in saved] == list(range(1, 13))

    # The agent closes on her node; the customer on the other sees it closed.
    await alice.ws.send_json({"type": "complete", "contact_id": contact_id, "disposition": "ok"})
    closed = await until(ws, "state")
    assert (closed["state"], closed["by"]) == ("closed", "agent")


async def test_messages_sent_while_a_node_cannot_listen_arrive_after_it_reconnects(
        two_nodes: tuple[Node, Node], cluster_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    leader, other = two_nodes
    ws, contact_id = await open_chat(other)
    alice = await leader.agent("acme", "alice")
    await until(alice.ws, "offer")
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    await until(ws, "message", sender="system")

    # The customer's node loses its listening connection and cannot reconnect for now.
    gate = asyncio.Event()
    connect = asyncpg.connect

    async def held(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        await gate.wait()
        return await connect(*args, **kwargs)

    monkeypatch.setattr(cluster_postgres.asyncpg, "connect", held)
    bus = other.rt.bus
    assert isinstance(bus, cluster_postgres.PgBus)
    await cut(bus.connection, cluster_url)
    await eventually_true(lambda: bus.connection is None)
    for i in range(3):
        await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id,
                                  "body": f"while away {i}"})
        sent = await until(alice.ws, "chat.message", contact_id=contact_id, sender="agent")
        assert sent["seq"] == 2 + i  # (1: "Alice Sales joined the chat")
    with pytest.raises(TimeoutError):
        await ws.receive_json(timeout=0.5)  # nothing told the customer's node
    monkeypatch.undo()
    gate.set()
    got = [await until(ws, "message") for _ in range(3)]
    assert [(m["seq"], m["body"]) for m in got] == [(2, "while away 0"), (3, "while away 1"),
                                                    (4, "while away 2")]


async def test_a_customer_who_comes_back_on_another_node_keeps_her_chat(
        two_nodes: tuple[Node, Node]) -> None:
    leader, other = two_nodes
    token = (await new_session(other.public))["token"]
    ws = await customer_ws(other.public, token)
    await until(ws, "state")
    await ws.send_json({"type": "open", "topic": "sales", "page_url": "http://shop.example/"})
    contact_id = (await until(ws, "state"))["contact_id"]
    alice = await leader.agent("acme", "alice")
    await until(alice.ws, "offer")
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    await until(ws, "message", sender="system")
    # Her node would end the chat 1 s after her last page closed there.
    first = other.public.app[chat_http.CHAT]
    first.settings = replace(first.settings, close_after_s=1.0, abandon_after_s=1.0)
    await ws.close()
    assert (await until(alice.ws, "chat.customer", contact_id=contact_id))["present"] is False
    again = await customer_ws(leader.public, token)  # back, through the other node
    assert (await until(again, "state"))["state"] == "connected"
    assert (await until(again, "message"))["seq"] == 1  # the transcript again
    assert (await until(alice.ws, "chat.customer", contact_id=contact_id))["present"] is True
    await asyncio.sleep(1.5)
    async with leader.rt.sessions() as s:
        row = await s.get(Contact, contact_id)
        assert row is not None and row.state == "connected"
    await again.send_json({"type": "message", "body": "still here"})
    got = await until(alice.ws, "chat.message", contact_id=contact_id, sender="customer")
    assert (got["seq"], got["body"]) == (2, "still here")
