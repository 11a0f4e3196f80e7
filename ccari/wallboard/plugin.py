"""Wiring of the wallboard: its service (reading the contact event log from start to
shutdown) and its routes on the internal listener."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.wallboard import http
from ccari.wallboard.services import Wallboard

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    wallboard = Wallboard(rt.sessions, rt.queue, rt.config.wallboard)
    rt.tenant_gone.append(wallboard.forget_tenant)
    rt.internal_setups.append(http.internal_setup(wallboard))
    rt.metrics.gauge("ccari_wallboard_clients", "wallboards open now", wallboard.watchers)
    wallboard.start()
    stack.push_async_callback(wallboard.close)
