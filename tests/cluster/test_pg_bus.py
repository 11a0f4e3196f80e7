"""The PostgreSQL bus between two nodes: what one node publishes at once arrives in order."""

from __future__ import annotations

from typing import Any

import pytest
from asyncpg.exceptions._base import InternalClientError
from sqlalchemy.exc import OperationalError

from ccari.cluster.postgres import PgBus
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


async def test_a_listening_connection_the_driver_gets_confused_on_is_replaced(
        two_nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the driver raises while checking the listening connection (asyncpg once said
    "got result for unknown protocol state" on a connection closing under it), the node
    listens again on a new one and hears what follows, with the resync that tells it to read
    what it may have missed."""
    a, b = two_nodes
    bus = b.rt.bus
    assert isinstance(bus, PgBus) and bus.connection is not None
    got: list[int] = []
    resyncs: list[bool] = []

    async def keep(payload: dict[str, Any]) -> None:
        got.append(int(payload["i"]))

    async def resynced() -> None:
        resyncs.append(True)

    bus.subscribe("test", keep)
    bus.on_resync(resynced)
    confused = bus.connection

    kind = type(confused)
    original = kind.execute

    async def execute(self: Any, *args: Any, **kwargs: Any) -> str:
        if self is confused:
            raise InternalClientError("got result for unknown protocol state 3")
        return str(await original(self, *args, **kwargs))

    monkeypatch.setattr(kind, "execute", execute)
    await eventually_true(lambda: bus.connection is not None and bus.connection is not confused
                          and bool(resyncs), "a new listening connection")
    assert confused.is_closed()
    assert a.rt.bus is not None
    await a.rt.bus.publish("test", {"i": 1})
    await eventually_true(lambda: got == [1], "the message after it")


async def test_messages_the_database_did_not_take_are_sent_again_in_order(
        two_nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender's link to the database fails (a pool timeout, a cut connection) while the
    listeners' stay up: nobody resyncs, so what it publishes (a follower's new contact for
    the leader's router) is sent again once it can be, in order, each once."""
    a, b = two_nodes
    bus = a.rt.bus
    assert isinstance(bus, PgBus) and b.rt.bus is not None
    got: list[int] = []

    async def keep(payload: dict[str, Any]) -> None:
        got.append(int(payload["i"]))

    b.rt.bus.subscribe("test", keep)
    engine = bus._engine  # noqa: SLF001
    kind = type(engine)
    original = kind.begin
    failures = [2]

    def begin(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self is engine and failures[0]:
            failures[0] -= 1
            raise OperationalError("NOTIFY", {}, ConnectionRefusedError("the database is away"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(kind, "begin", begin)
    for i in range(5):
        await bus.publish("test", {"i": i})
    await eventually_true(lambda: len(got) >= 5, "every message")
    assert got == list(range(5)) and failures == [0]
