"""The outbox: mail ccari sends (agents' replies, acknowledgements) goes out through the
configured SMTP relay, from rows saved *before* any attempt.

A background task sends what is due, oldest first.  A relay that is down or answers 4xx is
retried with exponential backoff; a 5xx answer fails the message at once (the agent sees
it).  The first message the relay takes after it failed one makes every message waiting for
a retry due at once: mail held back by an outage leaves when the relay is back, not up to
``max_s`` later.  Rows are claimed with a compare-and-set on their attempt counter, so several nodes
may share one outbox.  A restarted node takes back at once the sends it had in progress; a crash
between the relay's 250 and the "sent" mark so sends the message again, with the same
Message-ID (receivers drop the duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.config import SmtpConfig
from ccari.contacts.queue_core import utc
from ccari.email import repo
from ccari.email.models import EmailMessage
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 30.0
    max_s: float = 3600.0
    max_attempts: int = 12
    # A claimed message is left alone by other scans for this long (a send in progress).
    lease_s: float = 300.0
    # How often the outbox looks for due mail when nothing wakes it (other nodes' rows).
    poll_s: float = 30.0

    def delay(self, attempts: int) -> float:
        """Wait before the next try after ``attempts`` failed ones (1 -> base_s)."""
        return float(min(self.base_s * 2 ** max(attempts - 1, 0), self.max_s))


class RelayError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Relay(Protocol):
    async def send(self, raw: bytes, sender: str, recipient: str) -> None:
        """Hand one message to the relay or raise :class:`RelayError`."""


class SmtpRelay:
    """The configured relay (``smtp.relay_*``), reached with aiosmtplib."""

    def __init__(self, cfg: SmtpConfig) -> None:
        self._cfg = cfg

    async def send(self, raw: bytes, sender: str, recipient: str) -> None:
        c = self._cfg
        try:
            await aiosmtplib.send(
                raw, sender=sender, recipients=[recipient], hostname=c.relay_host,
                port=c.relay_port, username=c.relay_user or None,
                password=c.relay_password or None, start_tls=c.relay_starttls,
                timeout=c.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise RelayError(f"recipient refused: {exc.recipients[0]}",
                             permanent=all(code >= 500 for code in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise RelayError(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RelayError(f"relay unreachable: {exc!r}", permanent=False) from exc


class Outbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], relay: Relay, hub: AgentHub,
                 *, node: str = "node1", policy: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._node = node
        self._relay = relay
        self._hub = hub
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._wake = asyncio.Event()
        self._relay_failed = False  # since the last message the relay took
        self._tasks = TaskSet("email-outbox")
        self._closing = False

    def start(self) -> None:
        self._tasks.spawn(self._run(), "sender")

    def wake(self) -> None:
        """New mail was saved: look at the outbox now."""
        self._wake.set()

    async def close(self) -> None:
        # The flag too: a cancellation swallowed by a library in a send must not keep the
        # loop (and so shutdown) going.
        self._closing = True
        self._wake.set()
        await self._tasks.close()

    async def _run(self) -> None:
        try:
            async with self._sessions() as s:
                if await repo.release_claims(s, self._node, utc(self._clock())):
                    log.info("email outbox: resuming the sends interrupted by the last stop")
                await s.commit()
        except Exception:
            log.exception("email outbox: could not take back interrupted sends")
        while not self._closing:
            self._wake.clear()
            try:
                await self.send_due()
                async with self._sessions() as s:
                    nxt = await repo.next_due(s)
            except Exception:
                log.exception("email outbox: scan failed")
                nxt = None
            timeout = self.policy.poll_s
            if nxt is not None:
                timeout = min(timeout, max((nxt - utc(self._clock())).total_seconds(), 0.0))
            # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancellation that
            # races its timeout, and close() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def send_due(self) -> int:
        """Send every message due now; returns how many were attempted."""
        now = utc(self._clock())
        async with self._sessions() as s:
            rows = await repo.due(s, now)
            claimed = []
            for row in rows:
                attempt = row.attempts + 1
                if await repo.claim(s, row, self._node, now + dt.timedelta(seconds=self.policy.lease_s)):
                    claimed.append((row, attempt))
            await s.commit()
        for row, attempt in claimed:
            await self._attempt(row, attempt)
        return len(claimed)

    async def _attempt(self, row: EmailMessage, attempt: int) -> None:
        if row.raw is None:
            await self._finish(row, "failed", "nothing to send")
            return
        try:
            await self._relay.send(row.raw, row.from_address, row.to_address)
        except RelayError as exc:
            if exc.permanent or attempt >= self.policy.max_attempts:
                log.warning("email %s to %s failed for good after %s attempt(s): %s",
                            row.message_id, row.to_address, attempt, exc)
                await self._finish(row, "failed", str(exc))
            else:
                self._relay_failed = True
                delay = self.policy.delay(attempt)
                log.info("email %s: attempt %s failed (%s); next in %.0f s",
                         row.message_id, attempt, exc, delay)
                await self._finish(row, "pending", str(exc),
                                   utc(self._clock() + delay))
            return
        log.info("email %s sent to %s (contact %s)", row.message_id, row.to_address, row.contact_id,
                 extra=logs.about(row.contact_id, row.tenant_id))
        await self._finish(row, "sent", None)
        if self._relay_failed:
            self._relay_failed = False
            async with self._sessions() as s:
                waiting = await repo.retry_now(s, utc(self._clock()))
                await s.commit()
            if waiting:
                log.info("email outbox: the relay takes mail again; %d message(s) waiting for "
                         "a retry are due now", waiting)
                self.wake()

    async def _finish(self, row: EmailMessage, status: str, error: str | None,
                      next_attempt_at: dt.datetime | None = None) -> None:
        async with self._sessions() as s:
            await repo.finish(s, row.id, status=status, at=utc(self._clock()), error=error,
                              next_attempt_at=next_attempt_at)
            await s.commit()
        if row.agent_id is not None and status != "pending":
            await self._hub.send(row.agent_id, {
                "type": "email.status", "contact_id": row.contact_id, "id": row.id,
                "status": status, "error": error})
