"""One leader per cluster-wide duty: the node whose dedicated connection holds the duty's
PostgreSQL advisory lock.

A follower tries ``pg_try_advisory_lock`` every ``check_s``.  Having it, the node is elected:
it bumps the duty's epoch in ``cluster_leadership`` (on the same connection) and then
``on_elected(epoch)`` runs (routing: rebuild the router from the database).  The leader
checks its connection every ``check_s``; once lost (PostgreSQL released the lock with it),
``on_deposed()`` runs at once and the node waits ``2 * check_s`` before trying again, so a
follower that was already trying takes over.

The lock alone cannot stop a leader that has not yet noticed it lost it: its writes carry
the fence (:func:`ccari.cluster.repo.holds_sync` with :attr:`Leadership.epoch`).  A leader
that must read everything again without letting go (its bus was away) renews its epoch in
place (:meth:`Leadership.renew`); if that fails it lets go (:meth:`Leadership.let_go`).

Nodes that carry calls (an Asterisk beside them: the leader is the one that rings phones)
are preferred: each lock connection names its node and whether it carries calls
(``application_name`` ``ccari-lead:<node>:calls`` or ``:web``); a node that serves the web
only does not try for the lock while a node carrying calls is connected, and hands the lead
over (lets go) as soon as one is. Among nodes of the same kind, whoever locks first leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ccari.cluster.repo import ELECT, LOCK_KEYS
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
LEAD_PREFIX = "ccari-lead:"  # the lock connections' application_name: ccari-lead:<node>:<kind>
_CALLS_NODE_PRESENT = ("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = "
                       "current_database() AND application_name LIKE $1 "
                       "AND pid <> pg_backend_pid())")


class Leadership:
    def __init__(self, dsn: str, node: str, *, name: str = "routing",
                 on_elected: Callable[[int], Awaitable[None]],
                 on_deposed: Callable[[], Awaitable[None]],
                 check_s: float = 1.0, connect_timeout_s: float = 5.0,
                 carries_calls: bool = False) -> None:
        self.name = name
        self.node = node
        self.carries_calls = carries_calls
        self._dsn = dsn
        self._key = LOCK_KEYS[name]
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._check_s = check_s
        self._connect_timeout_s = connect_timeout_s
        self._tasks = TaskSet(f"leadership-{name}")
        self.epoch: int | None = None  # set while this node leads
        self.connection: asyncpg.Connection | None = None  # the lock's (tests cut it)
        self.changed = asyncio.Event()  # set at each election or deposition (tests wait)
        self._asking = asyncio.Lock()  # one query at a time on the lock's connection

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def start(self) -> None:
        self._tasks.spawn(self._run(), "run")

    async def close(self) -> None:
        await self._tasks.close()
        if self.connection is not None:
            self.connection.terminate()
        self.connection = None

    async def renew(self) -> int:
        """A re-election in place, on the lock's connection (so only while it holds the
        lock): the epoch is bumped, once the transactions fenced with the previous one have
        committed (their rows are read after this); later writes fenced with it are
        dropped.  Raises :class:`NotLeading` if this node does not lead (or no longer)."""
        conn, epoch = self.connection, self.epoch
        if conn is None or epoch is None:
            raise NotLeading(f"node {self.node} does not lead {self.name}")
        renewed = int(await self._ask(conn, ELECT, self.name, self.node))
        if self.epoch != epoch:  # deposed while it waited: that epoch is gone with the lock
            raise NotLeading(f"node {self.node} no longer leads {self.name}")
        self.epoch = renewed
        log.info("cluster: node %s leads %s again (epoch %s)", self.node, self.name, renewed)
        return renewed

    def let_go(self) -> None:
        """Give up the lead (what it leads could not be rebuilt): the lock's connection is
        closed, so the node is deposed at once and tries again later, like any follower."""
        if self.connection is not None:
            self.connection.terminate()

    async def _run(self) -> None:
        while True:
            try:
                await self._one_connection()
            except _LOST:
                log.warning("cluster: %s leadership connection failed", self.name, exc_info=True)
            except Exception:  # e.g. the rebuild failed: let go of the lock, try again later
                log.exception("cluster: node %s could not lead %s", self.node, self.name)
            if self.epoch is not None:
                self.epoch = None
                log.warning("cluster: node %s no longer leads %s", self.node, self.name)
                await self._on_deposed()
                self.changed.set()
                await asyncio.sleep(2 * self._check_s)  # let a waiting follower take it
            await asyncio.sleep(self._check_s)

    async def _one_connection(self) -> None:
        kind = "calls" if self.carries_calls else "web"
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s, server_settings={
            "application_name": f"{LEAD_PREFIX}{self.node}:{kind}"})
        self.connection = conn
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _: lost.set())
            while (await self._defers(conn)
                   or not await self._ask(conn, "SELECT pg_try_advisory_lock($1)", self._key)):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._check_s):
                        await lost.wait()
                    return
            epoch = await self._ask(conn, ELECT, self.name, self.node)
            self.epoch = int(epoch)
            log.info("cluster: node %s leads %s (epoch %s)", self.node, self.name, epoch)
            await self._on_elected(self.epoch)
            self.changed.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._check_s):
                        await lost.wait()
                    return
                if await self._defers(conn):
                    log.info("cluster: node %s hands %s over to a node that carries calls",
                             self.node, self.name)
                    return
        finally:
            self.connection = None
            conn.terminate()

    async def _defers(self, conn: asyncpg.Connection) -> bool:
        """A node serving the web only gives way while a node carrying calls is connected
        (the query is also this connection's check that it is alive)."""
        if self.carries_calls:
            await self._ask(conn, "SELECT 1")
            return False
        return bool(await self._ask(conn, _CALLS_NODE_PRESENT, f"{LEAD_PREFIX}%:calls"))

    async def _ask(self, conn: asyncpg.Connection, query: str, *args: object) -> Any:
        async with self._asking, asyncio.timeout(self._check_s + self._connect_timeout_s):
            return await conn.fetchval(query, *args)


class NotLeading(RuntimeError):
    """This node does not lead the duty (or stopped leading it meanwhile)."""
