"""The pure parts of the cluster bus: the wire format, backoff, in-process peers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ccari.cluster.bus import MAX_PAYLOAD, Backoff, LocalBus, PayloadTooLarge, decode, encode
from ccari.config import ClusterConfig, Config, ConfigError, DatabaseConfig, validate


def test_a_message_round_trips_and_names_its_node() -> None:
    message = decode(encode("a", "chat", {"c": "x1", "s": 3}))
    assert message is not None
    assert (message.node, message.topic, message.payload) == ("a", "chat", {"c": "x1", "s": 3})


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"n": "a"}',
                                  '{"n": 1, "t": "chat", "p": {}}',
                                  '{"n": "a", "t": "chat", "p": []}'])
def test_what_is_not_a_bus_message_is_dropped(text: str) -> None:
    assert decode(text) is None


def test_a_payload_over_notifys_limit_is_refused() -> None:
    encode("a", "t", {"x": "é" * 3900})  # 7800 bytes of UTF-8 and the envelope: fits
    with pytest.raises(PayloadTooLarge):
        encode("a", "t", {"x": "é" * 4000})
    assert MAX_PAYLOAD < 8000


def test_backoff_doubles_to_its_most_and_starts_again_after_a_reset() -> None:
    backoff = Backoff(first=0.1, most=0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


async def test_a_local_bus_tells_its_peers_not_itself_and_one_failing_handler_not_the_rest(
        ) -> None:
    peers: list[LocalBus] = []
    a, b, c = (LocalBus(name, peers) for name in "abc")
    got: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "c": []}

    async def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    for name, bus in (("a", a), ("b", b), ("c", c)):
        bus.subscribe("chat", broken)

        async def keep(payload: dict[str, Any], name: str = name) -> None:
            got[name].append(payload)

        bus.subscribe("chat", keep)
    await a.publish("chat", {"c": "x"})
    await a.publish("other", {"c": "y"})
    assert got == {"a": [], "b": [{"c": "x"}], "c": [{"c": "x"}]}


async def test_a_single_nodes_bus_tells_nobody() -> None:
    alone = LocalBus("node1")
    seen: list[dict[str, Any]] = []

    async def keep(payload: dict[str, Any]) -> None:
        seen.append(payload)

    alone.subscribe("chat", keep)
    await alone.publish("chat", {"c": "x"})
    assert seen == []


def test_the_cluster_needs_postgresql() -> None:
    on = replace(Config(), cluster=ClusterConfig(enabled=True))
    with pytest.raises(ConfigError, match="postgresql"):
        validate(on)
    validate(replace(on, database=DatabaseConfig(url="postgresql+asyncpg://u@h/db")))
    with pytest.raises(ConfigError):
        validate(replace(Config(), cluster=ClusterConfig(leader_check_s=0)))
