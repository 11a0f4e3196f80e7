"""AMI events: parsed once into ``AmiEvent``, routed by name to handlers.

Events sharing a ``Uniqueid`` (one channel) are handled in order; other channels run
concurrently (``KeyedDispatcher``).  ``feed`` runs inside ``data_received`` and never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ccari.ami.actions import get_header, to_dict
from ccari.ari.dispatch import KeyedDispatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """One AMI event; header lookups are case-insensitive like AMI itself."""

    name: str
    headers: Mapping[str, str | list[str]]

    def get(self, key: str, default: str = "") -> str:
        value = get_header(self.headers, key.lower())
        if isinstance(value, list):
            return value[-1] if value else default
        return value if value != "" else default

    def get_all(self, key: str) -> list[str]:
        value = get_header(self.headers, key.lower())
        return value if isinstance(value, list) else ([value] if value != "" else [])


AmiHandler = Callable[[AmiEvent], Awaitable[None] | None]


class EventRouter:
    def __init__(self) -> None:
        self._handlers: dict[str, list[AmiHandler]] = {}
        self._dispatcher = KeyedDispatcher("ami")

    def on(self, name: str, handler: AmiHandler) -> None:
        self._handlers.setdefault(name.lower(), []).append(handler)

    def feed(self, message: Any) -> None:
        try:
            event = AmiEvent(name=str(message.get("Event", "")), headers=to_dict(message))
            handlers = [*self._handlers.get(event.name.lower(), ()), *self._handlers.get("*", ())]
            if not handlers:
                log.debug("AMI %s ignored (no handler)", event.name)
                return
            self._dispatcher.submit_handlers(event.get("Uniqueid"), handlers, event, event.name)
        except Exception:
            log.exception("AMI: could not dispatch %r", message)

    async def join(self) -> None:
        await self._dispatcher.join()

    async def close(self) -> None:
        await self._dispatcher.close()
