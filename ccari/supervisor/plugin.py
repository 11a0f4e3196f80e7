"""Wiring of the supervisor context: its page and JSON API on the internal listener."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.supervisor import http

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    rt.internal_setups.append(http.internal_setup())
