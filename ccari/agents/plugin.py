"""Wiring of the agents context: the agent's pages and websocket, and its presence buttons."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.agents import http

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes and commands of this context."""
    rt.commands.register("presence", http.presence_command(rt.queue))
    rt.internal_setups.append(http.internal_setup())
