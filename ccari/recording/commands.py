"""The agent's recording controls, from her page's websocket and the REST API
(``POST /agent/api/calls/{contact}/record|record_stop|record_pause|record_resume``).

Only the agent the call is connected to may use them (404 ``contact-not-found`` for anyone
else, tenant-scoped); each takes the call's lock like the other call controls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ccari.agents.commands import AgentCommands, field
from ccari.agents.commands import Command as AgentCommand
from ccari.errors import Conflict, NotFound
from ccari.recording.services import Recordings
from ccari.storage.models import Agent
from ccari.voice.calls import Call, CallRegistry

Action = Callable[[Call, Agent], Awaitable[dict[str, Any]]]


def register(commands: AgentCommands, calls: CallRegistry, recordings: Recordings) -> None:
    def command(action: Action) -> AgentCommand:
        async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any] | None:
            call = calls.by_contact(field(msg, "contact_id"))
            if call is None or call.agent_id != agent.id or call.tenant_id != agent.tenant_id:
                raise NotFound("no such call for you", error_id="contact-not-found")
            async with call.lock:
                if call.phase != "connected":
                    raise Conflict(f"the call is {call.phase}", error_id="call-not-connected")
                return await action(call, agent)

        return handler

    commands.register("call.record", command(lambda c, a: recordings.start(c, a.id)))
    commands.register("call.record_stop", command(lambda c, a: recordings.stop(c, a.id)))
    commands.register("call.record_pause",
                      command(lambda c, a: recordings.pause(c, a.id, True)))
    commands.register("call.record_resume",
                      command(lambda c, a: recordings.pause(c, a.id, False)))
