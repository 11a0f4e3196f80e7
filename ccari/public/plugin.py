"""Wiring of the public context: customer sessions, the anticipated wait, the widget files
and the demo site (the customer-facing basics every web medium builds on)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.public import http

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    rt.public_setups.append(http.public_setup(rt.limiters))
