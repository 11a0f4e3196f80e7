"""Wiring of the crm context: the customers (API and admin pages), the entitlement lookup
(the tenant's own system over HTTP, else the local record), its configuration API and the
agent page's refresh command."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import aiohttp

from ccari.crm import http, pages
from ccari.crm.entitlements import EntitlementLookup, entitlements_command
from ccari.crm.reach import Reach, ReachResolver
from ccari.crm.services import Customers

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes and commands of this context."""
    reach = Reach(rt.config.crm.lookup_networks)
    client = await stack.enter_async_context(aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=ReachResolver(reach))))
    lookup = EntitlementLookup(rt.sessions, client, reach=reach)
    rt.internal_setups.append(http.internal_setup(lookup, Customers(rt.sessions)))
    rt.internal_setups.append(pages.internal_setup)
    rt.commands.register("entitlements.get", entitlements_command(rt.sessions, lookup))
