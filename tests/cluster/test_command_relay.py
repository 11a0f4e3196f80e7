"""An agent's call control about a call another node carries is run on that node (in-process
buses joined as the cluster's would be): its reply or its error comes back as if run here,
other commands stay where they are, and a node that does not answer gives 503."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from ccari.agents import repo as agents_repo
from ccari.agents.commands import AgentCommands
from ccari.cluster.bus import LocalBus
from ccari.cluster.commands import CommandRelay, NodeUnavailable, RemoteError
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.errors import Conflict
from ccari.storage.models import Agent

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def node_commands(name: str, ran: list[tuple[str, str]]) -> AgentCommands:
    commands = AgentCommands()

    async def hold(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        ran.append((name, msg["type"]))
        return {"type": "held", "contact_id": msg["contact_id"], "on": name}

    async def mute(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        raise Conflict("the agent is already muted", error_id="call-muted")

    async def send(agent: Agent, msg: dict[str, Any]) -> None:
        ran.append((name, msg["type"]))

    commands.register("call.hold", hold)
    commands.register("call.mute", mute)
    commands.register("chat.send", send)
    return commands


@pytest.fixture
async def world(sessions: Any, cfg: Any) -> dict[str, Any]:
    async with sessions() as s:
        await seed(s, cfg)
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        made = {}
        for node, medium in (("a", "voice"), ("b", "voice"), ("b", "chat"), ("c", "voice")):
            contact = await contacts_repo.create(
                s, tenant_id=alice.tenant_id, medium=medium, state="connected", node=node,
                agent_id=alice.id, arrived_at=NOW)
            made[f"{node}-{medium}"] = contact.id
        await s.commit()
    peers: list[LocalBus] = []
    ran: list[tuple[str, str]] = []
    relays = {}
    for name in ("a", "b"):
        commands = node_commands(name, ran)
        # (long enough for an answer on a loaded box: only the silent node c reaches it)
        relays[name] = commands.relay = CommandRelay(LocalBus(name, peers), sessions, commands,
                                                     timeout_s=3.0)
        made[f"commands-{name}"] = commands
    LocalBus("c", peers)  # a node that never answers
    yield {"alice": alice, "ran": ran, **made}
    for relay in relays.values():
        await relay.close()


async def test_a_call_control_runs_on_the_node_carrying_the_call(world: dict[str, Any]) -> None:
    commands, alice = world["commands-a"], world["alice"]
    reply = await commands.run(alice, {"type": "call.hold", "contact_id": world["b-voice"]})
    assert reply == {"type": "held", "contact_id": world["b-voice"], "on": "b"}
    assert world["ran"] == [("b", "call.hold")]
    with pytest.raises(RemoteError) as raised:
        await commands.run(alice, {"type": "call.mute", "contact_id": world["b-voice"]})
    assert (raised.value.status, raised.value.error_id) == (409, "call-muted")
    # Through the page's dispatch: the error as the page shows any.
    assert await commands.dispatch(alice, {"type": "call.mute", "contact_id": world["b-voice"]}) \
        == {"type": "error", "error": "call-muted", "message": "the agent is already muted",
            "request": "call.mute"}


async def test_other_commands_and_this_nodes_calls_stay_here(world: dict[str, Any]) -> None:
    commands, alice = world["commands-a"], world["alice"]
    await commands.run(alice, {"type": "call.hold", "contact_id": world["a-voice"]})
    await commands.run(alice, {"type": "chat.send", "contact_id": world["b-chat"]})
    assert world["ran"] == [("a", "call.hold"), ("a", "chat.send")]


async def test_a_node_that_does_not_answer_gives_503(world: dict[str, Any]) -> None:
    commands, alice = world["commands-a"], world["alice"]
    with pytest.raises(NodeUnavailable) as raised:
        await commands.run(alice, {"type": "call.hold", "contact_id": world["c-voice"]})
    assert (raised.value.status, raised.value.error_id) == (503, "node-unavailable")
    assert world["ran"] == []


async def test_a_question_between_nodes_is_answered_by_its_handler_not_a_page_command(
        world: dict[str, Any], sessions: Any) -> None:
    """A node answers what the others ask it (``answer``), and only them: a page sending the
    same type gets the unknown-message error; the asker may wait less than the relay's
    timeout."""
    peers: list[LocalBus] = []
    asked: list[tuple[int, dict[str, Any]]] = []

    async def live(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        asked.append((agent.id, msg))
        return {"type": "calls.live", "calls": ["one"]}

    commands_a, commands_b = AgentCommands(), AgentCommands()
    a = CommandRelay(LocalBus("a", peers), sessions, commands_a, timeout_s=30)
    b = CommandRelay(LocalBus("b", peers), sessions, commands_b, timeout_s=30)
    LocalBus("c", peers)  # never answers
    b.answer("calls.live", live)
    with pytest.raises(ValueError):
        b.answer("calls.live", live)
    alice = world["alice"]
    try:
        assert await a.run_on("b", alice, {"type": "calls.live"}) == {
            "type": "calls.live", "calls": ["one"]}
        assert asked == [(alice.id, {"type": "calls.live"})]
        assert (await commands_b.dispatch(alice, {"type": "calls.live"}))["error"] \
            == "unknown-message"
        started = asyncio.get_running_loop().time()
        with pytest.raises(NodeUnavailable):
            await a.run_on("c", alice, {"type": "calls.live"}, timeout_s=0.2)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await a.close()
        await b.close()


async def test_a_call_of_a_dead_node_is_answered_for_by_the_node_watching_it(
        world: dict[str, Any], sessions: Any) -> None:
    """c died; b watches c's connected call (the contact's ``watched_by``): its controls,
    sent from a page on a or on b, are b's watcher's to answer; its wrap-up runs as any
    call's (on b, from a); once b stops watching, a command there runs as usual."""
    async with sessions() as s:
        row = await contacts_repo.get(s, world["c-voice"], world["alice"].tenant_id)
        assert row is not None
        row.meta = {**row.meta, "watched_by": "b"}
        await s.commit()
    watcher_ran: list[str] = []

    async def watcher(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        watcher_ran.append(msg["type"])
        return {"type": "held", "contact_id": msg["contact_id"], "by": "watcher"}

    async def wrap_up(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        world["ran"].append(("b", msg["type"]))
        return {"type": "wrapped-up"}

    commands_a, commands_b, alice = world["commands-a"], world["commands-b"], world["alice"]
    commands_b.register("call.wrap_up", wrap_up)
    commands_a.register("call.wrap_up", wrap_up)
    commands_b.relay.watch(world["c-voice"], watcher)
    hold = {"type": "call.hold", "contact_id": world["c-voice"]}
    assert (await commands_a.run(alice, hold))["by"] == "watcher"  # from a page on a
    assert (await commands_b.run(alice, hold))["by"] == "watcher"  # from a page on b
    await commands_a.run(alice, {"type": "call.wrap_up", "contact_id": world["c-voice"]})
    assert watcher_ran == ["call.hold", "call.hold"]
    assert world["ran"] == [("b", "call.wrap_up")]
    commands_b.relay.unwatch(world["c-voice"])
    assert (await commands_a.run(alice, hold))["on"] == "b"  # the call's controls as usual
