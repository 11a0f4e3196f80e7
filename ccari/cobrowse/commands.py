"""What the agent page may ask of co-browsing over its websocket."""

from __future__ import annotations

from typing import Any

from ccari.agents.commands import AgentCommands, field
from ccari.cobrowse.services import CobrowseService
from ccari.storage.models import Agent


def register(commands: AgentCommands, svc: CobrowseService) -> None:
    async def link(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        """``{"type": "cobrowse.link", "contact_id", "code"}``: the code the customer reads."""
        contact_id = field(msg, "contact_id")
        row = await svc.link(agent, contact_id, msg.get("code"))
        return {"type": "cobrowse.linked", "contact_id": contact_id, "session_id": row.id}

    async def status(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        row = await svc.session_of(agent, contact_id)
        return {"type": "cobrowse.status", "contact_id": contact_id,
                "session_id": row.id if row else None}

    async def end(agent: Agent, msg: dict[str, Any]) -> None:
        await svc.end_for_agent(agent, field(msg, "contact_id"))

    commands.register("cobrowse.link", link)
    commands.register("cobrowse.status", status)
    commands.register("cobrowse.end", end)
