"""The agents' states as the router moves them: told to their pages (each state once) and
to the state watchers (the reports' state log)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ccari.agents.notifier import Pages
from ccari.storage.models import Agent

StateOf = Callable[[int], tuple[str, str | None]]  # agent id -> (state, reason)


class AgentStates:
    def __init__(self, state_of: StateOf, clock: Callable[[], float]) -> None:
        self._state_of = state_of
        self._clock = clock
        # Told (agent, state, time) each time the router moves an agent to another state
        # (the reports' state log); called in line, so each must only note it.
        self.watchers: list[Callable[[Agent, str, float], None]] = []
        self._pushed: dict[int, tuple[str, str | None]] = {}  # what her pages were told
        self._noted: dict[int, str] = {}  # what the watchers were told

    def shown(self, agent_id: int) -> None:
        """Her pages know her state now (a page's hello told it)."""
        self._pushed[agent_id] = self._state_of(agent_id)

    def unknown(self, agent_id: int) -> None:
        """What her pages were told is not known (a page opened on another node)."""
        self._pushed.pop(agent_id, None)

    def forget(self, agent_id: int) -> None:
        self._pushed.pop(agent_id, None)
        self._noted.pop(agent_id, None)

    async def push(self, pages: Pages, agent_id: int, **extra: Any) -> None:
        state, reason = self._pushed[agent_id] = self._state_of(agent_id)
        await pages.send(agent_id, {"type": "state", "state": state, "reason": reason,
                                    **extra})

    async def sync(self, pages: Pages, touched: Callable[[], Iterable[str]],
                   agents: Mapping[int, Agent]) -> None:
        """Each agent's pages told of a state the router changed (wrap-up ending, an offer
        withdrawn...) without every caller having to remember to; the watchers of those
        it ``touched``."""
        if self.watchers:
            now = self._clock()
            for agent_id in map(int, touched()):
                agent = agents.get(agent_id)
                state = self._state_of(agent_id)[0]
                if agent is not None and self._noted.get(agent_id) != state:
                    self._noted[agent_id] = state
                    for watch in self.watchers:
                        watch(agent, state, now)
        for agent_id in pages.agent_ids():
            if self._pushed.get(agent_id) != self._state_of(agent_id):
                await self.push(pages, agent_id)
