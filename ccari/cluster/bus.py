"""The cluster bus: nodes tell each other "look", never carry the data itself.

A message is a topic and a small JSON payload (ids and a reference: a chat's contact id and
the sequence number of its newest message); the receiver reads what it needs from the
database, where the sender saved it before publishing.  A node never receives its own
messages.  Delivery is at most once: a receiver that lost its connection is told to resync
(every ``on_resync`` callback), which reads the database again.

:class:`LocalBus` is the single node's (nobody else to tell; in-process peers for tests);
:class:`ccari.cluster.postgres.PgBus` is PostgreSQL LISTEN/NOTIFY.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
MAX_PAYLOAD = 7999


class PayloadTooLarge(ValueError):
    """A bus message carries references; anything larger belongs in the database."""


class Bus(Protocol):
    node: str

    def subscribe(self, topic: str, handler: Handler) -> None:
        """``handler(payload)`` for each message of ``topic`` from another node."""

    def on_resync(self, callback: Resync) -> None:
        """``callback()`` after messages may have been missed (the listener reconnected)."""

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Tell the other nodes; best effort (they resync after an outage)."""


def encode(node: str, topic: str, payload: dict[str, Any]) -> str:
    text = json.dumps({"n": node, "t": topic, "p": payload}, separators=(",", ":"),
                      ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD:
        raise PayloadTooLarge(f"a {topic} message of {len(text.encode())} bytes")
    return text


@dataclass(frozen=True)
class Message:
    node: str
    topic: str
    payload: dict[str, Any]


def decode(text: str) -> Message | None:
    """None for what is not a bus message (logged)."""
    try:
        data = json.loads(text)
        node, topic, payload = data["n"], data["t"], data["p"]
    except (ValueError, KeyError, TypeError):
        log.warning("cluster bus: dropping a malformed message %.80r", text)
        return None
    if not (isinstance(node, str) and isinstance(topic, str) and isinstance(payload, dict)):
        log.warning("cluster bus: dropping a malformed message %.80r", text)
        return None
    return Message(node, topic, payload)


@dataclass
class Backoff:
    """Seconds to wait before the next reconnect: doubling from ``first`` to ``most``."""

    first: float = 0.1
    most: float = 5.0
    _next: float = 0.0

    def next(self) -> float:
        self._next = self.first if self._next == 0 else min(self.most, self._next * 2)
        return self._next

    def reset(self) -> None:
        self._next = 0.0


class Handlers:
    """Subscribers by topic and resync callbacks, each failure logged, never spreading."""

    def __init__(self) -> None:
        self._by_topic: dict[str, list[Handler]] = {}
        self._resync: list[Resync] = []

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._by_topic.setdefault(topic, []).append(handler)

    def on_resync(self, callback: Resync) -> None:
        self._resync.append(callback)

    async def dispatch(self, message: Message) -> None:
        for handler in self._by_topic.get(message.topic, ()):
            try:
                await handler(message.payload)
            except Exception:
                log.exception("cluster bus: a %s handler failed", message.topic)

    async def resync(self) -> None:
        for callback in self._resync:
            try:
                await callback()
            except Exception:
                log.exception("cluster bus: a resync failed")


class LocalBus:
    """One node: nobody else to tell.  ``peers`` (a shared list) joins in-process buses."""

    def __init__(self, node: str, peers: list[LocalBus] | None = None) -> None:
        self.node = node
        self._handlers = Handlers()
        self._peers = peers if peers is not None else []
        self._peers.append(self)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.subscribe(topic, handler)

    def on_resync(self, callback: Resync) -> None:
        self._handlers.on_resync(callback)

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        message = decode(encode(self.node, topic, payload))  # the same limits as PostgreSQL's
        assert message is not None
        for peer in list(self._peers):
            if peer is not self:
                await peer._handlers.dispatch(message)
