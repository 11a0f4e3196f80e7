"""Reports: the agents' state log (written off the call path) and the reading of the logs
into :mod:`.intervals`.

:class:`AgentStateLog` is told each agent state the router decides (``QueueService``'s
``state_watchers``, in line: it only appends to a list) and writes them every
``every_s`` in one transaction of its own, so a call never waits for it; on shutdown it
writes what is left.  A crash loses at most the last second of state changes.

:class:`Reports` reads, for a tenant and a range, the events of the contacts that joined
the queue in it (their whole story, however long), and each of its agents' state changes
in the range with the one before (her state as the range starts), then folds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.reports.intervals import Event, Grid, Row, StateChange, grid, report
from ccari.storage.models import Agent, AgentStateEvent, Contact, ContactEvent, Tenant
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)


class AgentStateLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, every_s: float = 1.0) -> None:
        self._sessions = sessions
        self._every_s = every_s
        self._pending: list[dict[str, object]] = []
        self._tasks = TaskSet("agent-state-log")
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()

    def note(self, agent: Agent, state: str, at: float) -> None:
        self._pending.append({"tenant_id": agent.tenant_id, "agent_id": agent.id,
                              "at": dt.datetime.fromtimestamp(at, dt.UTC), "state": state})

    def start(self) -> None:
        self._tasks.spawn(self._run(), "writer")

    async def flush(self) -> None:
        """Write what was noted so far (a report reads it at once)."""
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                try:
                    await self._write(rows)
                except IntegrityError:
                    await self._write(await self._of_agents_still_there(rows))
            except Exception:
                self._pending[:0] = rows  # the next round tries again
                raise

    async def _write(self, rows: list[dict[str, object]]) -> None:
        if rows:
            async with self._sessions() as s:
                await s.execute(insert(AgentStateEvent), rows)
                await s.commit()

    async def _of_agents_still_there(self, rows: list[dict[str, object]]) -> list[dict[str, object]]:
        """An agent deleted (or her tenant) since her states were noted: her rows go with
        her, and the others' are written (else one such row would hold every later one back
        for ever)."""
        async with self._sessions() as s:
            there = set(await s.scalars(select(Agent.id).where(
                Agent.id.in_({r["agent_id"] for r in rows}))))
        kept = [r for r in rows if r["agent_id"] in there]
        log.info("agent state log: %d states of deleted agents dropped", len(rows) - len(kept))
        return kept

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every_s)
            try:
                await self.flush()
            except Exception:
                log.exception("agent state log: write failed; kept for the next round")

    async def close(self) -> None:
        self._stopping.set()
        await self._tasks.close()
        with contextlib.suppress(Exception):
            await self.flush()


@dataclass(frozen=True)
class Report:
    tenant: Tenant
    zone: str
    threshold_s: float
    grid: Grid
    by: str
    rows: list[Row]
    names: dict[int, str]


class Reports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], states: AgentStateLog, *,
                 default_threshold_s: float, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._states = states
        self._default_threshold_s = default_threshold_s
        self._clock = clock

    async def zone_of(self, tenant_id: int) -> str:
        async with self._sessions() as s:
            tenant = await s.get(Tenant, tenant_id)
        return _zone(tenant)

    async def build(self, tenant_id: int, start: float, end: float, size: str,
                    by: str) -> Report:
        """The tenant's report; :class:`~.intervals.GridError` for a range it cannot cut."""
        await self._states.flush()
        async with self._sessions() as s:
            tenant = await s.get(Tenant, tenant_id)
            if tenant is None:
                raise LookupError(tenant_id)
            zone = _zone(tenant)
            g = grid(start, end, size, zone)
            lo = dt.datetime.fromtimestamp(g.starts[0], dt.UTC)
            hi = dt.datetime.fromtimestamp(g.end, dt.UTC)
            joined = (select(ContactEvent.contact_id)
                      .where(ContactEvent.tenant_id == tenant_id, ContactEvent.at >= lo,
                             ContactEvent.at < hi,
                             or_(ContactEvent.kind == "queued", ContactEvent.kind == "created"))
                      .distinct())
            rows = (await s.execute(
                select(ContactEvent.id, ContactEvent.at, ContactEvent.contact_id,
                       Contact.medium, Contact.attributes, ContactEvent.kind, ContactEvent.data)
                .join(Contact, Contact.id == ContactEvent.contact_id)
                .where(ContactEvent.tenant_id == tenant_id,
                       ContactEvent.contact_id.in_(joined)))).tuples().all()
            changes: list[StateChange] = []
            names: dict[int, str] = {}
            if by == "agent":
                agents = (await s.execute(select(Agent.id, Agent.display_name)
                                          .where(Agent.tenant_id == tenant_id))).tuples().all()
                names = dict(agents)
                before = (select(AgentStateEvent.agent_id, func.max(AgentStateEvent.id))
                          .where(AgentStateEvent.tenant_id == tenant_id, AgentStateEvent.at < lo)
                          .group_by(AgentStateEvent.agent_id))
                last_ids = [i for _, i in (await s.execute(before)).tuples().all()]
                found = (await s.execute(
                    select(AgentStateEvent.agent_id, AgentStateEvent.at, AgentStateEvent.state)
                    .where(AgentStateEvent.tenant_id == tenant_id,
                           or_(AgentStateEvent.id.in_(last_ids),
                               (AgentStateEvent.at >= lo) & (AgentStateEvent.at < hi)))
                    .order_by(AgentStateEvent.id))).tuples().all()
                changes = [StateChange(a, at.timestamp(), st) for a, at, st in found]
        events = [Event(i, at.timestamp(), c, medium, _skill(attrs), kind, data or {})
                  for i, at, c, medium, attrs, kind, data in rows]
        threshold = tenant.service_level_s or self._default_threshold_s
        out = report(events, changes, g, by, threshold_s=threshold, now=self._clock())
        return Report(tenant, zone, threshold, g, by, out, names)


def _zone(tenant: Tenant | None) -> str:
    """The tenant's business-hours zone, else UTC."""
    zone = (tenant.hours or {}).get("time_zone") if tenant is not None else None
    return zone if isinstance(zone, str) and zone else "UTC"


def _skill(attributes: object) -> str:
    skill = attributes.get("skill") if isinstance(attributes, dict) else None
    return skill if isinstance(skill, str) else ""
