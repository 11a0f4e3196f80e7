"""Wiring of the cobrowse context into the runtime (called once by ccari.app.runtime)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.cobrowse import commands, http
from ccari.cobrowse.nodes import CobrowseNodes
from ccari.cobrowse.services import CobrowseService

if TYPE_CHECKING:
    from ccari.app import Runtime

AGENT_SCRIPT = "/static/agent-cobrowse.js"


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
    svc = CobrowseService(rt.sessions, rt.hub, rt.origins)
    rt.cobrowse = svc  # the IVR links a call to a browser by the code the caller enters
    rt.public_setups.append(http.public_setup(svc))
    rt.internal_setups.append(http.internal_setup(svc))
    commands.register(rt.commands, svc)
    rt.agent_scripts.append(AGENT_SCRIPT)
    await svc.start()
    stack.push_async_callback(svc.close)
    if rt.config.cluster.enabled and rt.bus is not None:
        svc.remote = CobrowseNodes(svc, rt.bus, rt.sessions, rt.hub)
        await svc.remote.start()
        stack.push_async_callback(svc.remote.close)
