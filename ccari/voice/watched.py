"""A dead node's connected call watched by the routing leader (:mod:`ccari.voice.adoption`):
the agent's controls of it carried out over that node's ARI, as :mod:`ccari.voice.controls`
does on a live node's call.  Hold takes the caller out of the call's bridge with music on
hold, resume puts her back; mute silences the agent's leg; hang-up ends the agent's leg (the
watch then ends the call, as her phone's hang-up would).  A transfer, consult, conference
or recording needs the call's own node: 409 ``call-node-lost``.  Each control is logged in
the contact's history before that Asterisk is told, under the call's lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ccari.ari.rest import AriRest
from ccari.errors import Conflict
from ccari.storage.models import Agent, Contact
from ccari.voice.hold import safe

#: ``log(contact_id, tenant_id, kind, **data)``: an event of the contact's history.
EventLog = Callable[..., Awaitable[None]]


@dataclass
class WatchedCall:
    peer: AriRest  # the dead node's ARI
    contact: Contact
    moh_class: str
    log: EventLog
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held_at: float | None = None  # monotonic, while the caller is held
    hold_s: float = 0.0
    muted: bool = False

    def hold_total(self, now: float) -> float:
        return self.hold_s + (now - self.held_at if self.held_at is not None else 0.0)

    async def command(self, agent: Agent, kind: str) -> dict[str, Any]:
        """The agent's ``call.*`` command ``kind``: its reply, or a 409."""
        async with self.lock:
            if kind == "call.hold":
                return await self._hold(agent)
            if kind == "call.resume":
                return await self._resume(agent)
            if kind in ("call.mute", "call.unmute"):
                return await self._mute(agent, kind == "call.mute")
            if kind == "call.hangup":
                await safe(self.peer.hangup(self.contact.agent_channel_id or "", reason="normal"))
                return self._reply("hung-up")
        raise Conflict("the node carrying this call is gone: it can be held, resumed, muted "
                       "and hung up only", error_id="call-node-lost")

    async def _hold(self, agent: Agent) -> dict[str, Any]:
        if self.held_at is not None:
            raise Conflict("the call is already on hold", error_id="call-on-hold")
        self.held_at = time.monotonic()
        await self._log("held", agent_id=agent.id)
        caller = self.contact.channel_id or ""
        await safe(self.peer.remove_channel(self.contact.bridge_id or "", caller))
        await safe(self.peer.start_moh(caller, self.moh_class))
        return self._reply("held")

    async def _resume(self, agent: Agent) -> dict[str, Any]:
        if self.held_at is None:
            raise Conflict("the call is not on hold", error_id="call-not-on-hold")
        held = time.monotonic() - self.held_at
        self.held_at, self.hold_s = None, self.hold_s + held
        await self._log("resumed", agent_id=agent.id, held_s=round(held, 3),
                        hold_s=round(self.hold_s, 3))
        caller = self.contact.channel_id or ""
        await safe(self.peer.stop_moh(caller))
        await safe(self.peer.add_channel(self.contact.bridge_id or "", caller))
        return self._reply("resumed")

    async def _mute(self, agent: Agent, muted: bool) -> dict[str, Any]:
        if self.muted == muted:
            raise Conflict("the agent is already " + ("muted" if muted else "unmuted"),
                           error_id="already-muted" if muted else "not-muted")
        self.muted = muted
        kind = "muted" if muted else "unmuted"
        await self._log(kind, agent_id=agent.id)
        leg = self.contact.agent_channel_id or ""
        await safe(self.peer.mute(leg, "in") if muted else self.peer.unmute(leg, "in"))
        return self._reply(kind)

    async def _log(self, kind: str, **data: Any) -> None:
        await self.log(self.contact.id, self.contact.tenant_id, kind, **data)

    def _reply(self, kind: str) -> dict[str, Any]:
        return {"type": kind, "contact_id": self.contact.id}
