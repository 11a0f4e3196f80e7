"""The wallboard service: the contact event log folded into :mod:`.stats`, pushed to the
open wallboards.

On start it reads the log of the last day (and of every contact still waiting); then,
every ``wallboard.push_every_s``, it reads what was logged since (on PostgreSQL with an
overlap: a transaction may commit an older event id after a newer one; the board counts
each event once), notes the predicted wait of the contacts that just joined the queue, the agents'
states, and sends each tenant's figures to its open wallboards.  The log is the only
source, so every node's wallboard shows every node's contacts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiohttp import WSCloseCode, web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.config import WallboardConfig
from ccari.contacts.services import QueueService
from ccari.storage.models import Agent, Contact, ContactEvent, Tenant
from ccari.tasks import TaskSet
from ccari.wallboard.stats import AgentClock, Board, Move, by_state, midnight

log = logging.getLogger(__name__)

# How far back the log is read on start: a day since midnight in any zone, and DST.
HISTORY_S = 26 * 3600.0
# How far back each read looks again for events committed late (PostgreSQL: a transaction
# may commit an older event id after a newer one).  SQLite has one writer at a time, so its
# ids come in commit order and each read starts after the last id seen: under load, a
# re-read of the last 10 s was most of the wallboard's work (every event read ten times).
OVERLAP_S = 10.0
LIVE = ("ivr", "scheduled", "dialing", "queued", "offered", "connected")


def move_of(event_id: int, at: dt.datetime, tenant: int, contact: str, kind: str,
            data: dict[str, Any], medium: str, attributes: dict[str, Any]) -> Move | None:
    """The move an event log row records (None for events that move nothing: priority,
    hold, monitoring...)."""
    if kind == "created":
        before, after = None, data.get("state")
    else:
        before, after = data.get("from"), data.get("to")
    if not isinstance(after, str):
        return None
    skill = attributes.get("skill")
    # Each row brings its own copies of the contact's id, medium and skill: the board keeps
    # one of each (a contact's moves are kept for the window, thousands of them).
    return Move(event_id, at.timestamp(), tenant, sys.intern(contact), sys.intern(medium),
                sys.intern(skill) if isinstance(skill, str) else "",
                sys.intern(before) if isinstance(before, str) else None, sys.intern(after))


class Wallboard:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 cfg: WallboardConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self._cfg = cfg
        self._clock = clock
        self.board = Board(cfg.window_s)
        self._agents = AgentClock()
        self._last_id = 0
        self._read_once = False
        bind = sessions.kw.get("bind")
        self._overlap_s = 0.0 if bind is not None and bind.dialect.name == "sqlite" else OVERLAP_S
        # tenant id -> (service level threshold, time zone); agents (id, tenant, name).
        self._tenants: dict[int, tuple[float, str]] = {}
        self._staff: list[tuple[int, int, str]] = []
        self._sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("wallboard")
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._refresher = self._tasks.spawn(self._run(), "refresh")

    def forget_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: its figures, settings and staff go (``Runtime.tenant_gone``)."""
        self.board.forget_tenant(tenant_id)
        self._tenants.pop(tenant_id, None)
        self._staff = [s for s in self._staff if s[1] != tenant_id]

    async def close(self) -> None:
        # A read under way is let finish rather than cancelled: cancelled, the database
        # driver's thread would still answer it, into an event loop that may be gone.
        self._stopping.set()
        if self._refresher is not None:
            await asyncio.wait([self._refresher], timeout=10.0)
        await self._tasks.close()
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self._sockets.clear()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
                await self._push()
            except Exception:  # a database hiccup: the next round reads again
                log.exception("wallboard refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._cfg.push_every_s)

    # ---- reading the log ---------------------------------------------------------------
    async def refresh(self) -> None:
        """Fold in what the event log gained since the last read (all of the last day on
        the first), and read the tenants' settings and agents."""
        async with self._lock:
            now = self._clock()
            if self._read_once and not self._overlap_s:
                where = ContactEvent.id > self._last_id
            elif self._read_once:
                since = dt.datetime.fromtimestamp(now - self._overlap_s, dt.UTC)
                where = or_(ContactEvent.id > self._last_id, ContactEvent.at >= since)
            else:
                since = dt.datetime.fromtimestamp(now - HISTORY_S, dt.UTC)
                waiting = select(Contact.id).where(Contact.state.in_(LIVE))
                where = or_(ContactEvent.at >= since, ContactEvent.contact_id.in_(waiting))
            query = (select(ContactEvent.id, ContactEvent.at, ContactEvent.tenant_id,
                            ContactEvent.contact_id, ContactEvent.kind, ContactEvent.data,
                            Contact.medium, Contact.attributes)
                     .join(Contact, Contact.id == ContactEvent.contact_id).where(where)
                     .order_by(ContactEvent.id))
            async with self._sessions() as s:
                rows = (await s.execute(query)).tuples().all()
                tenants = (await s.execute(select(Tenant.id, Tenant.service_level_s,
                                                  Tenant.hours))).tuples().all()
                staff = (await s.execute(select(Agent.id, Agent.tenant_id, Agent.display_name)
                                         .order_by(Agent.display_name))).tuples().all()
            for row in rows:
                move = move_of(*row)
                if move is not None:
                    self.board.add(move)
                self._last_id = max(self._last_id, row[0])
            self._read_once = True
            self._tenants = {
                t: (sl or self._cfg.service_level_s,
                    str((hours or {}).get("time_zone") or self._cfg.time_zone))
                for t, sl, hours in tenants}
            self._staff = list(staff)
            # The predicted wait as the contact joined the queue, to set beside its real wait.
            for contact, waited in self.board.unpredicted(now, 2 * self._cfg.push_every_s + 2):
                view = self._queue.view(contact)
                if view is not None and math.isfinite(view.predicted_wait_s):
                    self.board.predicted(contact, waited + view.predicted_wait_s)
            for agent_id, _, _ in self._staff:
                self._agents.observe(agent_id, self._queue.agent_state(agent_id), now)
            # Contacts over before the window and the re-read are tallied, not kept one by one.
            self.board.fold(now - self._cfg.window_s - self._overlap_s)
            self.board.prune(now - HISTORY_S)

    # ---- figures -----------------------------------------------------------------------
    def figures(self, tenant_id: int) -> dict[str, Any]:
        """The tenant's wallboard as JSON (only its own contacts and agents)."""
        now = self._clock()
        threshold, zone = self._tenants.get(tenant_id,
                                            (self._cfg.service_level_s, self._cfg.time_zone))
        rows = self.board.figures(tenant_id, now, threshold_s=threshold,
                                  midnight=midnight(now, zone))
        agents = self._agents.figures(
            [(a, name, self._queue.agent_state(a)) for a, t, name in self._staff if t == tenant_id],
            now)
        return {
            "at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
            "service_level_s": threshold, "window_s": self._cfg.window_s, "time_zone": zone,
            "queues": [_rounded(asdict(r)) for r in rows],
            "agents_by_state": by_state(agents),
            "agents": [_rounded(asdict(a)) for a in agents],
        }

    # ---- the open wallboards -----------------------------------------------------------
    def add(self, tenant_id: int, ws: web.WebSocketResponse) -> None:
        self._sockets[tenant_id].add(ws)

    def remove(self, tenant_id: int, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(tenant_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[tenant_id]

    def watchers(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    async def _push(self) -> None:
        for tenant_id, sockets in list(self._sockets.items()):
            message = {"type": "wallboard", **self.figures(tenant_id)}
            for ws in list(sockets):
                try:
                    await ws.send_json(message)
                except (ConnectionError, RuntimeError):
                    log.debug("dropping a closed wallboard of tenant %s", tenant_id)
                    self.remove(tenant_id, ws)


def _rounded(value: Any) -> Any:
    """Seconds and percentages to one decimal, for the page and the API."""
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
