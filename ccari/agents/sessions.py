"""The websockets each agent's page sessions hold open on this node (her agent page, a
supervisor's wallboard, a co-browse mirror), closed once her session is over.

A session ends when her ``session_epoch`` moves on (her logout, on any node, or a new
password): the logout closes her sockets on its own node at once (:meth:`end`), and every
node reads the epochs of the agents it holds sockets for every ``every_s`` and closes those
of an ended session (close code 1008, "logged out": the page goes to the login).  One
query per node per period, whatever the number of sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.storage.models import Agent
from ccari.web.security import AgentSession

log = logging.getLogger(__name__)
LOGGED_OUT = b"logged out"


class PageSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, every_s: float = 5.0) -> None:
        self._sessions = sessions
        self.every_s = every_s
        self._held: dict[int, dict[web.WebSocketResponse, int]] = defaultdict(dict)  # agent -> ws -> epoch
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def holding(self, sess: AgentSession, ws: web.WebSocketResponse) -> AsyncIterator[None]:
        """While the block runs, ``ws`` belongs to the session ``sess``."""
        self._held[sess.agent_id][ws] = sess.epoch
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="page-sessions")
        try:
            yield
        finally:
            held = self._held.get(sess.agent_id)
            if held is not None:
                held.pop(ws, None)
                if not held:
                    del self._held[sess.agent_id]

    async def end(self, agent_id: int) -> None:
        """Her session ended here (her logout): every socket of hers on this node closes."""
        for ws in list(self._held.get(agent_id, ())):
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=LOGGED_OUT)

    async def sweep(self) -> int:
        """Close the sockets of sessions that ended (on any node); how many closed."""
        ids = list(self._held)
        if not ids:
            return 0
        async with self._sessions() as s:
            epochs = dict((await s.execute(select(Agent.id, Agent.session_epoch)
                                           .where(Agent.id.in_(ids)))).tuples().all())
        ended = [ws for agent_id in ids for ws, epoch in list(self._held.get(agent_id, {}).items())
                 if epochs.get(agent_id) != epoch]
        for ws in ended:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=LOGGED_OUT)
        return len(ended)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                closed = await self.sweep()
            except Exception:  # the database away for a while: next time
                log.warning("page sessions: the agents' sessions could not be read", exc_info=True)
                continue
            if closed:
                log.info("page sessions: %d sockets of ended sessions closed", closed)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
