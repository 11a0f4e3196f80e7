"""The cluster bus on PostgreSQL LISTEN/NOTIFY.

One dedicated asyncpg connection listens on the channel; it is checked every
``check_s`` and, once lost, reconnected with backoff, and then every subscriber resyncs from
the database (what was notified meanwhile is gone).  Messages are handled one at a time, in
the order PostgreSQL delivers them (the commit order of the notifying transactions).
Publishing queues the message for one sender task, which sends them in that order through
the engine's pool (``pg_notify`` in a short transaction of its own, with whatever else
queued meanwhile): a caller is never held by,
nor can cancel, a notification on its way (a websocket handler ending as its peer left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccari.cluster.bus import Backoff, Handler, Handlers, Resync, decode, encode
from ccari.cluster.nodes import app_name
from ccari.storage.db import database_away
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
CHANNEL = "ccari_cluster"
# Most messages sent in one transaction (PostgreSQL delivers them in the order sent).
SEND_BATCH = 64
# One statement for the batch: unnest yields the messages in the array's order.
_NOTIFY = text("SELECT pg_notify(:channel, m) FROM unnest(CAST(:messages AS text[])) AS m")


def dsn_of(url: str) -> str:
    """asyncpg's DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgBus:
    def __init__(self, engine: AsyncEngine, dsn: str, node: str, *,
                 channel: str = CHANNEL, reconnect_max_s: float = 5.0,
                 check_s: float = 1.0, connect_timeout_s: float = 5.0) -> None:
        self.node = node
        self._engine = engine
        self._dsn = dsn
        self._channel = channel
        self._backoff = Backoff(most=reconnect_max_s)
        self._check_s = check_s
        self._connect_timeout_s = connect_timeout_s
        self._handlers = Handlers()
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks = TaskSet("cluster-bus")
        self._listening = asyncio.Event()
        self.connection: asyncpg.Connection | None = None  # the listening one (tests cut it)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.subscribe(topic, handler)

    def on_resync(self, callback: Resync) -> None:
        self._handlers.on_resync(callback)

    async def start(self, within_s: float = 10.0) -> None:
        """Listening (or failing after ``within_s``): what others publish from now on arrives."""
        self._tasks.spawn(self._listen(), "listen")
        self._tasks.spawn(self._dispatch(), "dispatch")
        self._tasks.spawn(self._send(), "send")
        async with asyncio.timeout(within_s):
            await self._listening.wait()

    async def close(self, within_s: float = 2.0) -> None:
        with contextlib.suppress(TimeoutError):  # what is still queued, sent first
            async with asyncio.timeout(within_s):
                await self._outbox.join()
        await self._tasks.close()
        if self.connection is not None:
            self.connection.terminate()

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._outbox.put_nowait((topic, encode(self.node, topic, payload)))

    async def _send(self, first_retry_s: float = 0.2, most_retry_s: float = 5.0) -> None:
        """Each batch in one transaction (what queued meanwhile joins it).  A batch the
        database did not take is sent again, in order, until it does: its messages tell
        the others what they would not read again by themselves (a follower's new contact
        for the leader's router; nobody resyncs when only the sender's database link
        failed), and a NOTIFY is delivered only by its commit, so once."""
        batch: list[tuple[str, str]] = []
        delay = first_retry_s
        while True:
            if not batch:
                batch.append(await self._outbox.get())
            while len(batch) < SEND_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            topics = ", ".join(sorted({topic for topic, _ in batch}))
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(_NOTIFY, {"channel": self._channel,
                                                 "messages": [m for _, m in batch]})
            except Exception as exc:
                if database_away(exc):
                    log.warning("cluster bus: could not publish %d message(s) (%s): %s; again "
                                "in %.1f s", len(batch), topics, type(exc).__name__, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, most_retry_s)
                    continue
                # not the database's absence: dropped, the sender goes on with the next
                log.exception("cluster bus: publishing %d message(s) (%s) failed", len(batch),
                              topics)
            delay = first_retry_s
            for _ in batch:
                self._outbox.task_done()
            batch = []

    # ---- listening -----------------------------------------------------------------------
    async def _listen(self) -> None:
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                # Named for the node: the others see it is alive (ccari.cluster.nodes).
                conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s,
                                             server_settings={"application_name":
                                                              app_name(self.node)})
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(self._channel, self._received)
                self.connection = conn
                self._listening.set()
                self._backoff.reset()
                log.info("cluster bus: node %s listening", self.node)
                if not first:
                    await self._handlers.resync()
                first = False
                await self._watch(conn, lost)
                log.warning("cluster bus: the listening connection was lost")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("cluster bus: listening failed", exc_info=True)
            except Exception:  # a driver's own confusion, a resync that failed: listen again
                log.exception("cluster bus: listening failed unexpectedly")
            finally:
                self.connection = None
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(self._backoff.next())

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection ends, or stops answering within ``check_s``."""
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._check_s):
                    await lost.wait()
                return
            try:
                async with asyncio.timeout(self._check_s):
                    await conn.execute("SELECT 1")
            except Exception:  # whatever went wrong, the connection is not to be trusted
                log.debug("cluster bus: the listening connection's check failed", exc_info=True)
                return

    def _received(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self._inbox.put_nowait(payload)

    async def _dispatch(self) -> None:
        while True:
            message = decode(await self._inbox.get())
            if message is not None and message.node != self.node:
                await self._handlers.dispatch(message)
