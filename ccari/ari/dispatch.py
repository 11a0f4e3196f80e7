"""Per-key serial dispatch: jobs of one key run in order, different keys run concurrently.

A worker task exists only while its key has work; an idle key is dropped at once, so memory
follows the number of busy calls, not the number of calls ever seen.  A job that raises is
logged with its traceback and the next job runs.  Also used by the AMI adapter.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class KeyedDispatcher:
    def __init__(self, name: str) -> None:
        self._name = name
        self._queues: dict[str, deque[Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def active_keys(self) -> int:
        return len(self._workers)

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def submit(self, key: str, job: Job) -> None:
        if self._closed:
            raise RuntimeError(f"dispatcher {self._name} is closed")
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._idle.clear()
            self._workers[key] = asyncio.create_task(
                self._work(key, queue), name=f"{self._name}:{key or 'global'}"
            )
        queue.append(job)

    def submit_handlers(self, key: str, handlers: Sequence[Callable[[Any], Any]], event: Any,
                        what: str) -> None:
        """Run ``handlers`` on ``event`` in turn (each sync or async) as one job of ``key``:
        one that raises is logged (``what`` names the event) and the next still runs."""
        async def run() -> None:
            for handler in handlers:
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("%s: handler %r failed on %s", self._name, handler, what)

        self.submit(key, run)

    async def _work(self, key: str, queue: deque[Job]) -> None:
        try:
            while queue:
                job = queue.popleft()
                try:
                    await job()
                except Exception:
                    log.exception("%s: job for %r failed", self._name, key)
        finally:
            # No await between the emptiness check and here: a submit() cannot slip in.
            del self._queues[key]
            del self._workers[key]
            if not self._workers:
                self._idle.set()

    async def join(self) -> None:
        """Wait until every queued job has run."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel every worker (queued jobs are dropped) and wait for them to end."""
        self._closed = True
        current = asyncio.current_task()
        workers = [t for t in self._workers.values() if t is not current]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
