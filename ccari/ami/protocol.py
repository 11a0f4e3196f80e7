"""panoramisk's ``AMIProtocol`` (parser + response correlation) wired to the adapter.

``Factory`` stands where panoramisk expects its ``Manager``: the replay queue that
``AMIProtocol.close`` fills is emptied, never read, so nothing is ever re-sent from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

log = logging.getLogger(__name__)


class Factory:
    """What ``AMIProtocol`` expects of its ``factory``; its replay queue is never read."""

    save_stream = None
    forgetable_actions: tuple[str, ...] = ()

    def __init__(self, on_message: Callable[[Any], None]) -> None:
        self.dispatch = on_message
        self.awaiting_actions: deque[Action] = deque()

    def connection_lost(self, exc: object) -> None:
        self.awaiting_actions.clear()


class WireProtocol(AMIProtocol):  # type: ignore[misc]
    def __init__(self, factory: Factory, on_lost: Callable[[WireProtocol], None]) -> None:
        super().__init__()
        self._factory = factory
        self._on_lost = on_lost
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.factory = self._factory
        self.encoding = "utf-8"
        self.log = log

    def data_received(self, data: bytes) -> None:
        # panoramisk decodes each chunk alone: a UTF-8 character split across two reads
        # would be dropped.  Only hand it whole lines (a newline never splits a character).
        data = self._tail + data
        cut = data.rfind(b"\n") + 1
        self._tail = data[cut:]
        if cut:
            super().data_received(data[:cut])

    def connection_lost(self, exc: object) -> None:
        super().connection_lost(exc)  # also reached on a "Shutdown" event
        self._on_lost(self)
