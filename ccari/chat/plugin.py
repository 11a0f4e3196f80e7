"""Wiring of the chat context into the runtime (called once by ccari.app.runtime)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.chat import http
from ccari.chat.agents import AgentChats
from ccari.chat.relay import ChatRelay
from ccari.chat.services import ChatService

if TYPE_CHECKING:
    from ccari.app import Runtime

AGENT_SCRIPT = "/static/agent-chat.js"


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
    assert rt.offers is not None
    chat = ChatService(rt.sessions, rt.queue, rt.offers, rt.hub, rt.limiters, node=rt.config.node)
    if rt.config.cluster.enabled:  # the customer and the agent may be on different nodes
        assert rt.bus is not None
        chat.relay = ChatRelay(chat, rt.bus, rt.sessions, rt.hub)
        chat.customers.remote = chat.relay.to_customer
    agents = AgentChats(chat, rt.sessions, rt.queue, rt.hub, rt.config.smtp)
    rt.offers.register_medium("chat", on_accepted=agents.on_accepted,
                              on_completed=chat.ending.on_completed)
    agents.register(rt.commands)
    rt.agent_scripts.append(AGENT_SCRIPT)
    rt.public_setups.append(http.public_setup(chat, rt.config.smtp))
    await chat.start()
    stack.push_async_callback(chat.close)
