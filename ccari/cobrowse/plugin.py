"""Wiring of the cobrowse context into the runtime (called once by ccari.app.runtime).

Also wires the crm context's entitlement lookup (the tenant's own system over HTTP), which
the agent page uses to refresh the screen pop's entitlements.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from ccari.cobrowse import commands, http
from ccari.cobrowse.services import CobrowseService
from ccari.crm import entitlements

if TYPE_CHECKING:
    from ccari.app import Runtime

AGENT_SCRIPT = "/static/agent-cobrowse.js"


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
    svc = CobrowseService(rt.sessions, rt.hub, rt.origins)
    rt.cobrowse = svc  # the IVR links a call to a browser by the code the caller enters
    client = await stack.enter_async_context(aiohttp.ClientSession())
    lookup = entitlements.EntitlementLookup(rt.sessions, client)

    def internal(app: web.Application) -> None:
        app[entitlements.LOOKUP] = lookup
        app.add_routes(entitlements.routes)

    rt.public_setups.append(http.setup_public(svc))
    rt.internal_setups.append(http.setup_internal(svc))
    rt.internal_setups.append(internal)
    commands.register(rt.commands, svc)
    rt.commands.register("entitlements.get", entitlements.entitlements_command(rt.sessions, lookup))
    rt.agent_scripts.append(AGENT_SCRIPT)
    await svc.start()
    stack.push_async_callback(svc.close)
