"""The one gate of every call ccari places to an outside number: callbacks, click-to-call,
the IVR's "call me back", blind and consultative transfers to a number, fax sending.

:meth:`OutwardGuard.check` applies the tenant's dial policy (the pure :mod:`.guard`: 422
``invalid-number``, 403 ``number-not-allowed``) and the rate limits (the pure :mod:`.limits`:
429 ``rate-limited`` per number and per tenant; per IP for public requests), before anything
is saved or dialled.  One limiter per process, shared by every path: a burst spread over
callbacks and transfers is still one burst.

Every refusal is logged (WARNING, ``ccari.callbacks.outward``) and kept in the admission log
(``admission_decisions``: direction ``outbound``, action ``refuse``, the error id as the
reason, the path and the number as inputs; ``GET /api/admission/decisions?refused=1``).  The
row is written by a tracked task once the caller's session is closed: SQLite has one
connection, and a refusal is raised while the caller holds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.admission.models import AdmissionDecision
from ccari.callbacks import guard, repo
from ccari.callbacks.limits import Limiter, Limits
from ccari.contacts.queue_core import utc
from ccari.errors import CcariError

log = logging.getLogger(__name__)


class OutwardGuard:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], limits: Limits | None = None,
                 *, node: str, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._node = node
        self._clock = clock
        self.limiter = Limiter(limits)
        self._tasks: set[asyncio.Task[None]] = set()

    async def check(self, tenant_id: int, number: str, *, path: str,
                    session: AsyncSession | None = None, limit: bool = True) -> guard.Destination:
        """The destination if the tenant may dial ``number`` now (a token of its number and
        tenant buckets taken); else the refusal, logged and kept, is raised."""
        try:
            if session is None:
                async with self._sessions() as s:
                    settings = await repo.settings(s, tenant_id)
            else:
                settings = await repo.settings(session, tenant_id)
            dest = guard.check(number, repo.policy_of(settings))
            if limit:
                self.limiter.check(self._clock(), number=dest.e164, tenant_id=tenant_id)
            return dest
        except CcariError as exc:
            self.refused(tenant_id, number, path, exc)
            raise

    async def allows(self, session: AsyncSession, tenant_id: int, number: str) -> bool:
        """Would :meth:`check` pass now?  Takes no token and logs nothing (asked before a
        callback is offered to a caller in the IVR)."""
        settings = await repo.settings(session, tenant_id)
        try:
            dest = guard.check(number, repo.policy_of(settings))
        except CcariError:
            return False
        return self.limiter.peek(
            [("number", dest.e164), ("tenant", str(tenant_id))], self._clock()) is None

    def limit(self, tenant_id: int, dest: guard.Destination, *, path: str) -> None:
        """The per-number and per-tenant limits alone (after checks of the caller's own)."""
        try:
            self.limiter.check(self._clock(), number=dest.e164, tenant_id=tenant_id)
        except CcariError as exc:
            self.refused(tenant_id, dest.e164, path, exc)
            raise

    def refused(self, tenant_id: int, number: str, path: str, exc: CcariError) -> None:
        if exc.status >= 500:
            return
        shown = number[:32] if isinstance(number, str) else "?"
        log.warning("outward %s to %r refused for tenant %s: %s (%s)", path, shown, tenant_id,
                    exc.error_id, exc.message)
        task = asyncio.get_running_loop().create_task(
            self._keep(tenant_id, shown, path, exc), name=f"outward-refusal-{tenant_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep(self, tenant_id: int, number: str, path: str, exc: CcariError) -> None:
        at = utc(self._clock())
        try:
            async with self._sessions() as s:
                s.add(AdmissionDecision(
                    tenant_id=tenant_id, call_id=f"{path}:{number}"[:100], node=self._node,
                    direction="outbound", admit=False, action="refuse", reason=exc.error_id,
                    permitted=0, outstanding=0,
                    inputs={"path": path, "number": number, "message": exc.message}, at=at))
                await s.commit()
        except Exception:  # the refusal stands; only its row is missing
            log.exception("outward %s refusal for tenant %s not kept", path, tenant_id)

    async def settled(self) -> None:
        """Every refusal so far is in the admission log (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.settled()
