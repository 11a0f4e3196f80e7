"""Every agent's routing state, as the leader's router has it, known on every node.

Only the leader routes; the other nodes still ask an agent's state: a call another node
carries is transferred to a colleague, or a colleague consulted, only if she is ready
(``ccari.voice.transfer_targets``), a supervisor's page on any node lists its agents' states,
a chat is handed to a colleague who is logged in.  The leader tells every node of each state
its router moves an agent to (one message per batch of changes, the state watchers' note),
and all of them on demand: a node that starts or listens again asks, a new leader tells them
all once it routes.  A node that does not lead reads its states here; one that has not heard
of an agent yet takes her as logged out, as before it knew anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ccari.cluster.bus import Bus
from ccari.storage.models import Agent
from ccari.tasks import TaskSet

TOPIC = "agent-states"
CHUNK = 100  # states a message: a bus message stays under PostgreSQL's NOTIFY limit

State = tuple[str, str | None]  # (state, reason)


class StatesView:
    def __init__(self, bus: Bus, *, leads: Callable[[], bool],
                 state_of: Callable[[int], State], agent_ids: Callable[[], list[int]]) -> None:
        """``state_of``: an agent's state in this node's router (while it leads);
        ``agent_ids``: the agents this node's router knows."""
        self._bus = bus
        self._leads = leads
        self._state_of = state_of
        self._agent_ids = agent_ids
        self._known: dict[int, State] = {}
        self._outgoing: dict[int, State] = {}
        self._flush_due = False
        self._tasks = TaskSet("agent-states")
        bus.subscribe(TOPIC, self._told)

    def known(self, agent_id: int) -> State | None:
        return self._known.get(agent_id)

    async def ask(self) -> None:
        """This node starts, or listens again: the leader tells it every state."""
        await self._bus.publish(TOPIC, {"want": self._bus.node})

    def noted(self, agent: Agent, state: str, at: float) -> None:
        """A state watcher (in line: noted, sent with the others of this batch)."""
        self._outgoing[agent.id] = (state, self._state_of(agent.id)[1])
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        states, self._outgoing = self._outgoing, {}
        self._tasks.spawn(self._send(states), "send")

    async def tell_all(self) -> None:
        """The leader: every agent's state, to every node."""
        await self._send({a: self._state_of(a) for a in self._agent_ids()})

    async def _send(self, states: dict[int, State]) -> None:
        self._known.update(states)  # (what this node shows once it no longer leads)
        items = sorted(states.items())
        for i in range(0, len(items), CHUNK):
            await self._bus.publish(TOPIC, {"s": {str(a): list(s) for a, s in items[i:i + CHUNK]}})

    async def _told(self, payload: dict[str, Any]) -> None:
        if "want" in payload:
            if self._leads():
                await self.tell_all()
            return
        for agent_id, (state, reason) in payload.get("s", {}).items():
            self._known[int(agent_id)] = (str(state), None if reason is None else str(reason))

    async def close(self) -> None:
        await self._tasks.close()
