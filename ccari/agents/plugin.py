"""Wiring of the agents context: the agent's pages and websocket, its presence buttons, and
the browser phone's SIP websocket (reloading Asterisk with each login's SIP password)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import aiohttp

from ccari.agents import http
from ccari.agents.webphone import WebPhones

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes and commands of this context."""
    rt.commands.register("presence", http.presence_command(rt.queue))
    client = await stack.enter_async_context(aiohttp.ClientSession())
    webphones = WebPhones(rt.sessions, rt.config.pbx, client)
    stack.push_async_callback(webphones.close)
    rt.internal_setups.append(http.internal_setup(webphones))

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        webphones.sync = rt.pbx_sync
        webphones.not_ready = lambda agent: rt.queue.set_presence(agent, "not_ready")
        webphones.end_calls = voice.agent_lost

    rt.pbx_setups.append(attach)
