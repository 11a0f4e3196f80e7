"""Wiring of the admin context: the contacts API and the metrics (internal) and the health
check (both)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.admin import http

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    rt.internal_setups.append(http.internal_setup())
    rt.public_setups.append(http.public_setup())
