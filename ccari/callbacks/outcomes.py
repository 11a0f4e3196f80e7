"""What follows a callback attempt, as the dialer reports it: deferred by trunk admission,
ended without reaching an agent (retry after the backoff, or give up), claimed but never
placed.  Each decision comes from the pure :mod:`.schedule`; the contact's move is saved
with the callback, then its lifecycle commands are carried out (:mod:`.executor`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.callbacks import repo, schedule
from ccari.callbacks.executor import CallbackExecutor, Followup, move
from ccari.callbacks.models import Callback
from ccari.config import CallbacksConfig
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.contacts.queue_core import utc

log = logging.getLogger(__name__)


class Outcomes:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], config: CallbacksConfig,
                 executor: CallbackExecutor, wake: Callable[[], None], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._config = config
        self._executor = executor
        self._wake = wake  # the scheduler looks again
        self._clock = clock

    def now(self) -> dt.datetime:
        return utc(self._clock())

    async def deferred(self, callback_id: str, reason: str) -> None:
        """Trunk admission said "not now": the same try, a little later."""
        now = self.now()
        at = now + dt.timedelta(seconds=self._config.defer_s)
        async with self._sessions() as s:
            cb = await repo.get(s, callback_id, for_update=True)
            if cb is None or cb.status not in ("dialing", "queued"):
                return
            cb.status, cb.next_attempt_at, cb.last_result = "pending", at, f"deferred-{reason}"[:24]
            followup = await move(s, cb, Fact.RESCHEDULED, at=now, not_before=at,
                                  agent_id=None, agent_channel_id=None)
            await s.commit()
        log.info("callback %s deferred by trunk admission (%s) until %s", callback_id, reason, at)
        await self._executor.carry_out(followup)
        self._wake()

    async def has_deferred(self, tenant_id: int) -> bool:
        async with self._sessions() as s:
            return bool(await repo.deferred(s, tenant_id, self.now(), limit=1))

    async def retry_deferred_now(self, tenant_id: int) -> None:
        """The tenant's deferred callbacks are due now (trunk admission would admit one)."""
        now = self.now()
        async with self._sessions() as s:
            found = await repo.deferred(s, tenant_id, now)
            for cb in found:
                cb.next_attempt_at = now
                contact = await contacts_repo.get(s, cb.contact_id)
                if contact is not None and contact.state == "scheduled":
                    contact.not_before = now
            await s.commit()
        if found:
            log.info("tenant %s: %d deferred callbacks go now (a trunk is free)", tenant_id, len(found))
            self._wake()

    async def attempt_ended(self, attempt_id: str, result: str, cause: int | None = None) -> Callback | None:
        """Close an attempt that did not reach an agent and plan what follows; the callback
        (None if the attempt was already closed)."""
        now = self.now()
        followup: Followup | None = None
        async with self._sessions() as s:
            att = await repo.attempt(s, attempt_id)
            if att is None or (att.result is not None and att.result != "answered"):
                return None
            cb = await repo.get(s, att.callback_id, for_update=True)
            if att.result == "answered" and (cb is None or cb.status != "answered"):
                # Handed to an agent's call (or closed): the attempt stays answered.
                att.ended_at, att.cause = att.ended_at or now, cause
                await s.commit()
                return None
            att.result, att.cause, att.ended_at = result, cause, now
            if cb is None:
                await s.commit()
                return None
            cb.last_result = result
            if cb.status in ("dialing", "answered", "queued"):
                settings = await repo.settings(s, cb.tenant_id)
                nxt = schedule.after_attempt(repo.retry_of(settings), tries=cb.tries,
                                             max_tries=cb.max_tries, result=result, now=now,
                                             window_end=cb.window_end)
                if nxt.status == "pending":
                    cb.status, cb.next_attempt_at = "pending", nxt.at
                    followup = await move(s, cb, Fact.RESCHEDULED, at=now, not_before=nxt.at,
                                          agent_id=None, agent_channel_id=None)
                    log.info("callback %s attempt %s: %s; next try at %s", cb.id, att.n, result,
                             nxt.at.isoformat() if nxt.at else None)
                else:
                    followup = await self.finish(s, cb, "failed", nxt.reason, now)
                    log.info("callback %s attempt %s: %s; %s", cb.id, att.n, result, nxt.reason)
            await s.commit()
        if followup is not None:
            await self._executor.carry_out(followup)
        self._wake()
        return cb

    async def unstick(self, callback_id: str) -> None:
        """A claim without a saved attempt (see ``repo.stranded``): the same try again now."""
        now = self.now()
        followup = Followup(callback_id)
        async with self._sessions() as s:
            cb = await repo.get(s, callback_id, for_update=True)
            if cb is None or cb.status != "dialing":
                return
            if cb.mode == "agent_first":
                cb.status = "queued"  # its contact goes back to the queue (reconcile)
            else:
                cb.status, cb.next_attempt_at = "pending", now
                followup = await move(s, cb, Fact.RESCHEDULED, at=now, only_from=("dialing",),
                                      not_before=now)
            await s.commit()
        log.info("callback %s was claimed but never placed: placed again", callback_id)
        await self._executor.carry_out(followup)
        self._wake()

    @staticmethod
    async def finish(s: AsyncSession, cb: Callback, status: str, reason: str,
                     now: dt.datetime) -> Followup:
        """Give up on ``cb`` in ``s``; what follows once the caller has committed."""
        cb.status, cb.next_attempt_at, cb.ended_at, cb.last_result = status, None, now, reason[:24]
        return await move(s, cb, Fact.GAVE_UP, at=now, ended_at=now, disposition=reason[:40],
                          not_before=None, agent_id=None)
