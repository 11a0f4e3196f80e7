"""The callback scheduler: one named task that sleeps until the next due callback or the next
in-flight attempt to check (``repo.next_wakeup``), and is woken early by any change (a new
request, a cancel, a reschedule, an attempt's end).  No polling: with nothing planned it
waits for a change.  The one exception: while trunk admission holds callbacks back, it asks
every ``DEFERRED_POLL_S`` whether one would be admitted (a read; nothing recorded), so they
go out as soon as a trunk frees on any node.

Due callback: its window is checked, it is claimed (``pending -> dialing|queued`` in one
UPDATE, so two passes or two nodes never place the same attempt), then customer first it is
dialled (:meth:`Dialer.dial`), agent first its contact is routed like any contact.
Overdue attempt (no answer and no hang-up heard past its deadline): Asterisk is asked
(:meth:`Dialer.check`), never re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.callbacks import repo
from ccari.callbacks.executor import move
from ccari.callbacks.outcomes import Outcomes
from ccari.contacts.lifecycle import Fact
from ccari.tasks import TaskSet

if TYPE_CHECKING:
    from ccari.callbacks.services import CallbackService

log = logging.getLogger(__name__)
DEFERRED_POLL_S = 2.0  # how often callbacks deferred by trunk admission look for a free trunk


class Scheduler:
    def __init__(self, service: CallbackService, sessions: async_sessionmaker[AsyncSession], *,
                 node: str) -> None:
        self._service = service
        self._sessions = sessions
        self._node = node
        self._wake = asyncio.Event()
        self._tasks = TaskSet("callbacks")
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._tasks.spawn(self._loop(), "scheduler")
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        await self._tasks.close()

    async def _loop(self) -> None:
        now = self._service.now
        while True:
            self._wake.clear()
            try:
                await self._tick()
                async with self._sessions() as s:
                    wakeup = await repo.next_wakeup(s, self._node)
            except Exception:
                log.exception("callback scheduler pass failed")
                wakeup = now() + dt.timedelta(seconds=5)
            timeout = None if wakeup is None else max(0.0, (wakeup - now()).total_seconds())
            if self._service.dialer is not None and self._service.dialer.deferred_tenants:
                # Callbacks wait for a trunk: look again soon (a cheap read, nothing recorded).
                timeout = min(timeout if timeout is not None else DEFERRED_POLL_S, DEFERRED_POLL_S)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _tick(self) -> None:
        now = self._service.now()
        dialer = self._service.dialer
        if dialer is not None and dialer.deferred_tenants:
            await dialer.retry_deferred()
        async with self._sessions() as s:
            due = await repo.due(s, now)
            overdue = [a.id for a in await repo.in_flight(s, self._node, before=now)]
        for attempt_id in overdue:
            if dialer is not None:
                await dialer.check(attempt_id)
        for callback_id in due:
            await self._start(callback_id)

    async def _start(self, callback_id: str) -> None:
        """A callback is due: check its window, claim it, then dial or queue it."""
        now = self._service.now()
        async with self._sessions() as s:
            cb = await repo.get(s, callback_id)
            if cb is None or cb.status != "pending":
                return
            if now > cb.window_end:
                gave_up = await Outcomes.finish(s, cb, "failed", "callback-window-closed", now)
                await s.commit()
                log.info("callback %s: its window closed", cb.id)
                await self._service.executor.carry_out(gave_up)
                return
            target = "dialing" if cb.mode == "customer_first" else "queued"
            if not await repo.claim(s, cb.id, "pending", target, self._node):
                await s.rollback()
                return
            due = None
            if target == "queued":
                due = await move(s, cb, Fact.DUE, at=now, queued_at=cb.place_at, not_before=None)
            cb.next_attempt_at = None  # the claim wrote the status; this writes only the time
            await s.commit()
        dialer = self._service.dialer
        if due is not None:
            log.info("callback %s queued for an agent (agent first)", cb.id)
            await self._service.executor.carry_out(due)
        elif dialer is not None:
            self._tasks.spawn(dialer.dial(cb.id), f"dial-{cb.id}")
