"""What an agent's page may ask over its websocket, registered by each context.

``commands.register("chat.send", handler)``; a handler takes the agent and the message
and returns a reply (sent back to that page) or None.  Errors of the exception tree become
``{"type": "error", "error": <id>, "message": ...}`` for that request, never a dropped socket.
Several nodes: a command about a call another node carries is run there (:attr:`relay`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ccari import logs
from ccari.errors import BadRequest, CcariError
from ccari.storage.models import Agent

log = logging.getLogger(__name__)
Command = Callable[[Agent, dict[str, Any]], Awaitable[dict[str, Any] | None]]


class Relay(Protocol):
    """Runs a command on the node it belongs to (``ccari.cluster.commands``)."""

    async def where(self, agent: Agent, message: dict[str, Any]) -> str | None:
        """The node ``message`` must run on, if not this one."""

    async def run_on(self, node: str, agent: Agent,
                     message: dict[str, Any]) -> dict[str, Any] | None:
        """Its reply from ``node`` (its errors raised here)."""

    def watch(self, contact_id: str, handler: Command) -> None:
        """This node answers the commands about ``contact_id`` with ``handler``."""

    def unwatch(self, contact_id: str) -> None:
        """This node answers for ``contact_id`` no more."""


class AgentCommands:
    def __init__(self) -> None:
        self._handlers: dict[str, Command] = {}
        self.relay: Relay | None = None  # several nodes: calls carried by other nodes

    def register(self, name: str, handler: Command) -> None:
        if name in self._handlers:
            raise ValueError(f"agent command {name!r} registered twice")
        self._handlers[name] = handler

    def names(self) -> tuple[str, ...]:
        """Every message type an agent's page may send, sorted."""
        return tuple(sorted(self._handlers))

    async def run(self, agent: Agent, message: dict[str, Any], *,
                  here: bool = False) -> dict[str, Any] | None:
        """Carry out a command; its errors are raised (the REST API maps them to responses).
        ``here``: on this node, even if it is about a call another node carries."""
        name = message.get("type")
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            raise BadRequest(f"unknown message type {name!r}", error_id="unknown-message")
        if not here and self.relay is not None:
            node = await self.relay.where(agent, message)
            if node is not None:
                return await self.relay.run_on(node, agent, message)
        contact_id = message.get("contact_id")
        if isinstance(contact_id, str) and contact_id:  # the lines of this work name it
            with logs.contact(contact_id, agent.tenant_id):
                return await handler(agent, message)
        return await handler(agent, message)

    async def dispatch(self, agent: Agent, message: dict[str, Any]) -> dict[str, Any] | None:
        name = message.get("type")
        try:
            return await self.run(agent, message)
        except CcariError as exc:
            if exc.status >= 500:
                log.exception("agent command %s failed", name)
            return {"type": "error", "error": exc.error_id, "message": exc.message,
                    "request": name}
        except Exception:  # a bug or the database: this command fails, the page goes on
            log.exception("agent command %s failed", name)
            return {"type": "error", "error": "internal-error",
                    "message": "not done; please try again", "request": name}


def field(message: dict[str, Any], name: str, kind: type = str) -> Any:
    """A required field of a page message, or a clear error."""
    value = message.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        raise BadRequest(f"{name} is required", error_id=f"bad-{name.replace('_', '-')}")
    return value
