"""Which nodes are alive, as the routing leader sees them; a dead node's pages forgotten and
its calls closed.

A node is alive while its bus's listening connection is open: that connection carries the
application name ``ccari:<node>``, and PostgreSQL lists it in ``pg_stat_activity`` for as
long as it lasts.  A node that dies (kill -9, its host gone) loses it: at once when its
process dies (the kernel closes the socket), within the server's TCP keepalive otherwise.
No heartbeat is written: the connection the node needs anyway to hear offers is its proof
of life (a node that cannot listen could not take an offer either).

The leader looks every ``check_s`` at the nodes it knows (those with pages, those it has
seen connected, and, at its first look, those with open calls); one that has been absent
for ``timeout_s`` (a reconnecting listener is not a death) is dead: its page rows are
deleted (only if it is still absent, in the same statement: a node that came back
meanwhile keeps what it wrote), every node is told, and the router forgets her page for
each of its agents who has none left (:meth:`ccari.cluster.routing.ClusterRole.pages_lost`);
then its open calls are closed (:mod:`ccari.cluster.lost`).  A node that comes back says
again which pages it serves (on every reconnect of its listener, as at start).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import distinct, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts.lifecycle import LIVE
from ccari.routing import CALLS
from ccari.storage.models import Contact
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
PREFIX = "ccari:"
# PostgreSQL keeps the first 63 bytes of an application name.
_NAME_MAX = 63

_PRESENT = text("SELECT application_name FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'ccari:%'")
_WITH_PAGES = text("SELECT DISTINCT node FROM cluster_agent_pages")
_WITH_CALLS = select(distinct(Contact.node)).where(
    Contact.state.in_([s.value for s in LIVE]), Contact.medium.in_([m.value for m in CALLS]))
_FORGET = text("DELETE FROM cluster_agent_pages WHERE node = :node AND NOT EXISTS ("
               "SELECT 1 FROM pg_stat_activity "
               "WHERE datname = current_database() AND application_name = :app) "
               "RETURNING agent_id")


def app_name(node: str) -> str:
    """The application name of the node's listening connection."""
    return (PREFIX + node).encode()[:_NAME_MAX].decode(errors="ignore")


@dataclass
class Absences:
    """Pure: since when each watched node has been seen without its connection."""

    timeout_s: float
    _since: dict[str, float] = field(default_factory=dict)

    def dead(self, now: float, present: Iterable[str], watched: Iterable[str],
             me: str) -> list[str]:
        """The ``watched`` nodes absent for ``timeout_s`` or more (never ``me``)."""
        alive = {app_name(n) for n in present} | {app_name(me)}
        absent = {n for n in watched if app_name(n) not in alive}
        self._since = {n: self._since.get(n, now) for n in absent}
        return sorted(n for n, since in self._since.items() if now - since >= self.timeout_s)

    def reset(self) -> None:
        """Counted again from the next look (this node leads anew)."""
        self._since.clear()


class NodeWatch:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], node: str, *,
                 leading: Callable[[], bool],
                 forgotten: Callable[[str, list[int]], Awaitable[None]],
                 calls_lost: Callable[[str], Awaitable[object]],
                 timeout_s: float, check_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``forgotten(node, agent_ids)``: the dead node's page rows are deleted;
        ``calls_lost(node)``: then its calls are closed."""
        self._sessions = sessions
        self._node = node
        self._leading = leading
        self._forgotten = forgotten
        self._calls_lost = calls_lost
        self._known: set[str] | None = None  # nodes seen since this node leads (None: none)
        self._check_s = check_s
        self._clock = clock
        self.absences = Absences(timeout_s)
        self._tasks = TaskSet("cluster-nodes")

    def start(self) -> None:
        self._tasks.spawn(self._run(), "watch")

    async def close(self) -> None:
        await self._tasks.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            if not self._leading():
                self.absences.reset()
                self._known = None
                continue
            try:
                await self.look()
            except Exception:  # the database away: look again later
                log.warning("cluster: could not look at the nodes", exc_info=True)

    async def look(self) -> None:
        async with self._sessions() as s:
            present = [str(n)[len(PREFIX):] for n in await s.scalars(_PRESENT)]
            with_pages = [str(n) for n in await s.scalars(_WITH_PAGES)]
            if self._known is None:  # first look as leader: nodes it never saw may carry calls
                self._known = {str(n) for n in await s.scalars(_WITH_CALLS)}
        self._known |= {n for n in present if n != self._node}
        for node in self.absences.dead(self._clock(), present, self._known | set(with_pages),
                                       self._node):
            async with self._sessions() as s:
                agents = sorted({int(a) for a in await s.scalars(
                    _FORGET, {"node": node, "app": app_name(node)})})
                await s.commit()
            if agents:
                log.warning("cluster: node %s is gone; its pages of agents %s forgotten",
                            node, agents)
                await self._forgotten(node, agents)
            await self._calls_lost(node)
            self._known.discard(node)  # (seen again when it comes back)
