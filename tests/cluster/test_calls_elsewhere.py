"""A reopened agent page is told her live calls whatever node carries them (in-process buses
joined as the cluster's would be): the nodes carrying her open calls are asked at once, what
they say is merged with this node's calls, and a node that does not answer in time is left
out and logged, not waited for."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from ccari.agents import repo as agents_repo
from ccari.agents.commands import AgentCommands
from ccari.cluster.bus import LocalBus
from ccari.cluster.commands import CommandRelay
from ccari.cluster.resume import CallsElsewhere, carrying_nodes
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.storage.models import Agent
from ccari.voice.replay import CallReplay, LiveCall

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
CODEC = {"name": "opus", "bitrate": 24000}


class Pages:
    """Her pages on this node: what they were told."""

    def __init__(self) -> None:
        self.told: list[dict[str, Any]] = []

    async def send(self, agent_id: int, message: dict[str, Any]) -> None:
        self.told.append(message)


@pytest.fixture
async def world(sessions: Any, cfg: Any) -> Any:
    async with sessions() as s:
        await seed(s, cfg)
        alice = await agents_repo.by_login(s, "acme", "alice")
        bob = await agents_repo.by_login(s, "acme", "bob")
        assert alice is not None and bob is not None
        made: dict[str, Any] = {"alice": alice}
        for key, node, medium, state, agent in (
                ("a", "a", "voice", "connected", alice), ("b", "b", "voice", "connected", alice),
                ("c", "c", "voice", "offered", alice), ("d-chat", "d", "chat", "connected", alice),
                ("e-ended", "e", "voice", "completed", alice),
                ("bob", "f", "voice", "connected", bob)):
            contact = await contacts_repo.create(
                s, tenant_id=alice.tenant_id, medium=medium, state=state, node=node,
                agent_id=agent.id, arrived_at=NOW, caller_number=f"1555010{len(made)}",
                meta={"ended_by": "caller-hangup"} if state == "completed" else {})
            made[key] = contact.id
        await s.commit()
    peers: list[LocalBus] = []
    relays = {name: CommandRelay(LocalBus(name, peers), sessions, AgentCommands())
              for name in ("a", "b")}
    LocalBus("c", peers)  # carries her call, never answers: each resume waits out its timeout
    # (2 s: long enough for b's answer on a loaded box)
    made["relays"] = relays
    yield made
    for relay in relays.values():
        await relay.close()


def replay_on_a(world: dict[str, Any], sessions: Any, pages: Pages,
                told_by_b: list[dict[str, Any]], timeout_s: float = 2.0) -> CallReplay:
    async def here_a(agent: Agent) -> list[LiveCall]:
        return [LiveCall(world["a"], None, [{"type": "connected", "contact_id": world["a"]}])]

    async def here_b(agent: Agent) -> list[dict[str, Any]]:
        return told_by_b

    relays = world["relays"]
    CallsElsewhere(relays["b"], sessions, "b").serve(here_b)
    elsewhere = CallsElsewhere(relays["a"], sessions, "a", timeout_s=timeout_s)
    return CallReplay(sessions, pages, lambda: NOW, here=here_a,  # type: ignore[arg-type]
                      elsewhere=elsewhere)


async def test_the_nodes_asked_are_those_carrying_her_open_calls(
        world: dict[str, Any], sessions: Any) -> None:
    async with sessions() as s:
        assert await carrying_nodes(s, world["alice"], "a") == ["b", "c"]
        assert await carrying_nodes(s, world["alice"], "b") == ["a", "c"]


async def test_her_calls_on_other_nodes_are_merged_and_a_silent_node_is_logged(
        world: dict[str, Any], sessions: Any, caplog: pytest.LogCaptureFixture) -> None:
    b_call = LiveCall(world["b"], CODEC, [{"type": "connected", "contact_id": world["b"]},
                                          {"type": "held", "contact_id": world["b"]}])
    told_by_b = [b_call.as_dict(),
                 # told twice (here and there): once; unreadable: left out
                 LiveCall(world["a"], None, []).as_dict(), {"contact_id": 5}]
    pages = Pages()
    replay = replay_on_a(world, sessions, pages, told_by_b)
    with caplog.at_level(logging.WARNING):
        ids = await replay.resume(world["alice"])
    assert ids == [world["a"], world["b"]]
    assert [(m["type"], m.get("contact_id") or m["contact"]["id"]) for m in pages.told] == [
        ("offer", world["a"]), ("connected", world["a"]),
        ("offer", world["b"]), ("connected", world["b"]), ("held", world["b"])]
    offer_b = pages.told[2]
    assert offer_b["resumed"] and offer_b["contact"]["codec"] == CODEC
    assert offer_b["contact"]["caller_number"] == "15550102"
    assert "node c, which carries a call of hers, did not answer" in caplog.text
    assert "unreadably" in caplog.text


async def test_a_node_that_answers_an_error_is_left_out(
        world: dict[str, Any], sessions: Any, caplog: pytest.LogCaptureFixture) -> None:
    """b answers nothing about calls (say, an older ccari): her call here is still told."""
    relays = world["relays"]
    pages = Pages()

    async def here_a(agent: Agent) -> list[LiveCall]:
        return [LiveCall(world["a"], None, [])]

    replay = CallReplay(sessions, pages, lambda: NOW,  # type: ignore[arg-type]
                        here=here_a,
                        elsewhere=CallsElsewhere(relays["a"], sessions, "a", timeout_s=2.0))
    with caplog.at_level(logging.WARNING):
        assert await replay.resume(world["alice"]) == [world["a"]]
    assert "node b, which carries a call of hers, answered unknown-message" in caplog.text


async def test_a_web_only_node_tells_her_calls_from_the_others(
        world: dict[str, Any], sessions: Any) -> None:
    pages = Pages()
    relays = world["relays"]

    async def here_b(agent: Agent) -> list[dict[str, Any]]:
        return [LiveCall(world["b"], None, []).as_dict()]

    CallsElsewhere(relays["b"], sessions, "b").serve(here_b)
    replay = CallReplay(sessions, pages, lambda: NOW,  # type: ignore[arg-type]
                        elsewhere=CallsElsewhere(relays["a"], sessions, "a", timeout_s=2.0))
    assert await replay.resume(world["alice"]) == [world["b"]]
