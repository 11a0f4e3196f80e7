"""Group commit: write jobs queued while a transaction commits share the next transaction.

Under load the hot path (a call arrives, is queued, offered, answered, ends) writes several
small transactions per call.  :class:`GroupCommit` runs the jobs waiting at that moment one
after another in one session and commits once.  Save, then act: :meth:`GroupCommit.run`
returns only after *its* job is committed, so nothing is acknowledged (or told to Asterisk)
before it is durable.

A job is a plain function ``job(session) -> T`` on a synchronous SQLAlchemy ``Session``:
database work only, no I/O of its own.  That lets a whole batch run where the database is:

* SQLite (one connection, in WAL mode with ``synchronous=NORMAL``: a commit does not wait
  for the disk): the batch runs right in the event loop, on that connection, statement after
  statement at the driver's speed (about a millisecond for a batch).  Handing each cursor
  call to aiosqlite's thread instead costs a round trip through the loop per call, and a
  thread would wait for the GIL at every call while the loop is busy: either way a queue
  builds up under load.  While the batch runs the connection is checked out of the async
  engine's pool, so nothing else uses it.
* PostgreSQL: the batch runs through ``AsyncSession.run_sync`` (asyncpg).

A job that raises fails alone: the shared transaction is rolled back and the other jobs of
the batch run again, each in its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[Session], Any]


@dataclass
class _Outcome:
    ok: bool
    value: Any


def connection(session: Session) -> Connection:
    """A job's connection for Core statements (a third of the ORM's cost per statement),
    with what the ORM still holds flushed first: an earlier job of the same shared
    transaction may have added rows these statements refer to."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def run_jobs(session: Session, jobs: list[Job]) -> list[_Outcome]:
    """Every job in one transaction; if one raises, the others again one by one."""
    results: list[Any] = []
    for i, job in enumerate(jobs):
        try:
            results.append(job(session))
        except Exception as exc:
            session.rollback()
            return _one_by_one(session, jobs, i, exc)
    session.commit()
    return [_Outcome(True, r) for r in results]


def _one_by_one(session: Session, jobs: list[Job], failed: int, error: Exception) -> list[_Outcome]:
    out = []
    for i, job in enumerate(jobs):
        if i == failed:
            out.append(_Outcome(False, error))
            continue
        try:
            value = job(session)
            session.commit()
            out.append(_Outcome(True, value))
        except Exception as exc:
            session.rollback()
            out.append(_Outcome(False, exc))
    return out


class _Lent:
    """The sqlite3 connection the async engine's pool holds, lent to a synchronous engine
    for one batch (its ``close`` is the pool's business, not ours)."""

    current: Any = None

    def lend(self, conn: Any) -> None:
        object.__setattr__(self, "current", conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.current, name, value)

    def close(self) -> None:
        pass


class GroupCommit:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, name: str = "writes",
                 max_batch: int = 64) -> None:
        self._sessions = sessions
        self._name = name
        self._max_batch = max_batch
        self._waiting: list[tuple[Job, asyncio.Future[Any]]] = []
        self._since: list[float] = []  # when each waiting job was queued (loop time)
        self._in_flight: float | None = None  # when the running batch's first job was queued
        self._last = (0.0, 0.0)  # (when the last batch committed, how long its first job took)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._lent = _Lent()
        self._sqlite: Engine | None = None
        self.batches = 0
        self.jobs = 0

    async def run(self, job: Callable[[Session], T]) -> T:
        """Run ``job`` in the next shared transaction; its result once that is committed."""
        if self._closed:
            raise RuntimeError(f"{self._name}: closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((job, future))
        self._since.append(loop.time())
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name=f"{self._name}:group-commit")
        self._wake.set()
        return await asyncio.shield(future)

    def delay_ms(self) -> float:
        """How long writes wait for their commit now: the age of the oldest job not yet
        committed, or what the last batch took if it committed within the last second (0
        when idle)."""
        now = asyncio.get_running_loop().time()
        oldest = self._in_flight if self._in_flight is not None else (
            self._since[0] if self._since else None)
        waiting = now - oldest if oldest is not None else 0.0
        at, took = self._last
        return 1000 * max(waiting, took if now - at < 1.0 else 0.0)

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        if self._task is not None:
            self._wake.set()
            await self._task
        if self._sqlite is not None:
            self._sqlite.dispose()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[:self._max_batch]
                first = self._in_flight = self._since[0]
                del self._waiting[:self._max_batch]
                del self._since[:self._max_batch]
                try:
                    await self._commit(batch)
                finally:
                    self._in_flight = None
                now = asyncio.get_running_loop().time()
                self._last = (now, now - first)
            if self._closed:
                return

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        jobs = [job for job, _ in batch]
        try:
            outcomes = await self._execute(jobs)
        except Exception as exc:  # the connection or the commit failed: every job fails
            log.warning("%s: a shared transaction of %d jobs failed: %r", self._name, len(batch), exc)
            outcomes = [_Outcome(False, exc)] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome.ok:
                future.set_result(outcome.value)
            else:
                future.set_exception(outcome.value)

    async def _execute(self, jobs: list[Job]) -> list[_Outcome]:
        async with self._sessions() as s:
            conn = await s.connection()
            if conn.dialect.name != "sqlite":
                return await s.run_sync(run_jobs, jobs)
            raw = await conn.get_raw_connection()
            return self._run_sqlite(raw.driver_connection, jobs)

    def _run_sqlite(self, aio: Any, jobs: list[Job]) -> list[_Outcome]:
        self._lent.lend(aio._conn)  # aiosqlite's sqlite3 connection (check_same_thread off)
        if self._sqlite is None:
            self._sqlite = _lending_engine(self._lent)
        with Session(self._sqlite, expire_on_commit=False) as session:
            return run_jobs(session, jobs)


def _lending_engine(lent: _Lent) -> Engine:
    return create_engine("sqlite://", creator=lambda: lent, poolclass=StaticPool)
