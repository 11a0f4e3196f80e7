"""Group commit: write jobs queued while a transaction commits share the next transaction.

Under load the hot path (a call arrives, is queued, offered, answered, ends) writes several
small transactions per call.  On SQLite ccari holds one connection, so each transaction's
thread round trips serialise every writer; on PostgreSQL each commit is a round trip and a
WAL flush.  :class:`GroupCommit` runs the jobs waiting at that moment one after another in
one session and commits once.  Save, then act: :meth:`GroupCommit.run` returns only after
*its* job is committed, so nothing is acknowledged (or told to Asterisk) before it is durable.

A job is ``async def job(session) -> T``: database work only (no awaiting other jobs, no
network calls).  A job that raises fails alone: the shared transaction is rolled back and
the other jobs of the batch run again, each in its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]


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
        self.batches = 0
        self.jobs = 0

    async def run(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
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
        results: list[Any] = []
        failed: tuple[int, BaseException] | None = None
        try:
            async with self._sessions() as s:
                for i, (job, _) in enumerate(batch):
                    try:
                        results.append(await job(s))
                    except Exception as exc:
                        failed = (i, exc)
                        await s.rollback()
                        break
                else:
                    await s.commit()
        except Exception as exc:  # the commit itself failed: every job of the batch fails
            log.warning("%s: a shared transaction of %d jobs failed: %r", self._name, len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if failed is None:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            return
        index, error = failed
        batch[index][1].set_exception(error)
        for i, (job, future) in enumerate(batch):  # the others again, one transaction each
            if i != index:
                await self._alone(job, future)

    async def _alone(self, job: Job, future: asyncio.Future[Any]) -> None:
        try:
            async with self._sessions() as s:
                result = await job(s)
                await s.commit()
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
