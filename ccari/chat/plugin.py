"""Wiring of the chat context into the runtime (called once by ccari.app.runtime)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
