"""Named, cancellable one-shot timers keyed by contact (a customer gone from the page)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ccari.tasks import TaskSet


class Timers:
    def __init__(self, owner: str) -> None:
        self._tasks = TaskSet(owner)
        self._timers: dict[str, asyncio.Task[Any]] = {}

    def start(self, key: str, after_s: float, then: Callable[[], Awaitable[None]]) -> None:
        """Run ``then`` in ``after_s`` seconds unless cancelled (a running timer is kept)."""
        if key not in self._timers:
            self._timers[key] = self._tasks.spawn(self._run(key, after_s, then), f"timer-{key}")

    async def _run(self, key: str, after_s: float, then: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(after_s)
        self._timers.pop(key, None)
        await then()

    def cancel(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def close(self) -> None:
        self._timers.clear()
        await self._tasks.close()
