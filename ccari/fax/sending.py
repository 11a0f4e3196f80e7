"""Send a PDF as a fax: the toll-fraud guard, then one attempt committed before it is dialled.

* :meth:`FaxSender.submit`: the number passes the outward gate
  (:mod:`ccari.callbacks.outward`: the tenant's dial policy and rate limits; 422
  ``invalid-number``, 403 ``number-not-allowed``, 429 ``rate-limited``), the PDF is
  rendered to fax pages (422 ``invalid-document``); the document, the send (with who asked
  for it, :data:`SentBy`) and its first attempt are saved, then it is dialled.
* :meth:`FaxSender.dial`: trunk admission, then an ARI originate whose channel id is the
  attempt's id (``fxo-<send>-<n>``): a duplicate is refused by Asterisk, so an attempt is
  never dialled twice.  The answered call leaves Stasis for ``ccari-fax,send`` (SendFax).
* :meth:`FaxSender.ended`: res_fax's report (or the call's end without one) settles the
  attempt and the send: pages the remote took, Asterisk's reason, and the receiving
  machine's station id (``REMOTESTATIONID``, kept on the send).

* :meth:`FaxSender.resend`: a failed send gets a new attempt (``fxo-<send>-<n+1>``), which
  keeps who asked for it (the resend request's token, :data:`RequestedBy`) as the first one
  keeps the send's.
* Retries: an attempt that reached no fax machine because the line was busy, nobody
  answered or the network was congested (:func:`ccari.fax.core.retry`) leaves its send
  ``retrying`` with the time of its next attempt (``retry_at``, saved), which is dialled
  then by itself (its attempt asked for by ``retry``), up to ``fax.retries`` times; a restart
  plans the saved retries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari import AriClient
from ccari.ari import ids as ari_ids
from ccari.ari.errors import AriConflict, AriError
from ccari.callbacks import repo as callbacks_repo
from ccari.callbacks.outward import OutwardGuard
from ccari.contacts.queue_core import utc
from ccari.errors import CcariError, Conflict
from ccari.fax.core import Report, reason, retry
from ccari.fax.models import FaxAttempt, FaxSend
from ccari.fax.render import pdf_to_tiff
from ccari.fax.store import FaxStore
from ccari.storage.files import write_durably
from ccari.storage.models import new_id
from ccari.voice.ports import Admission

log = logging.getLogger(__name__)
OPEN = ("dialing", "sending")
# Who asked for a send, as far as ccari knows: the tenant's API token or the admin token.
SentBy = Literal["tenant-token", "admin-token"]
# Who asked for one attempt: who asked for the send (its first attempt) or for a resend, or
# ccari itself, dialling again after a busy, unanswered or congested line.
RequestedBy = Literal["tenant-token", "admin-token", "retry"]


class InvalidDocument(CcariError):
    """The document is not a PDF that can be sent as fax pages."""

    error_id = "invalid-document"
    status = 422


class OutboundAdmission(Protocol):
    async def admit_outbound(self, tenant_id: int, call_id: str) -> Admission: ...
    async def release(self, call_id: str) -> None: ...


class FaxSender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: FaxStore, *,
                 spool: Path, asterisk_spool: PurePosixPath, dial: str, trunk: str, host: str,
                 admission: OutboundAdmission | None, retries: int = 0,
                 retry_after_s: float = 300.0, outward: OutwardGuard | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._outward = outward or OutwardGuard(sessions, node="fax", clock=clock)
        self._store = store
        self._spool, self._asterisk_spool = spool, asterisk_spool
        self._dial, self._trunk, self._host = dial, trunk, host
        self._admission = admission
        self._clock = clock
        self._retries, self._retry_after_s = retries, retry_after_s
        self.ari: AriClient | None = None  # attached with the PBX
        self._tasks: set[asyncio.Task[None]] = set()
        self._planned: dict[str, asyncio.Task[None]] = {}  # send id -> its retry, waiting

    def _tiff(self, send_id: str) -> Path:
        return self._spool / f"out-{send_id}.tif"

    async def submit(self, tenant_id: int, to: str, pdf: bytes, *,
                     sent_by: SentBy | None = None) -> FaxSend:
        dest = await self._outward.check(tenant_id, to, path="fax")
        async with self._sessions() as s:
            settings = await callbacks_repo.settings(s, tenant_id)
            caller_id = await callbacks_repo.caller_id(s, settings)
        try:
            tiff, pages = await asyncio.to_thread(pdf_to_tiff, pdf)
        except ValueError as exc:
            raise InvalidDocument(str(exc)) from None
        send_id = new_id()
        sha = await asyncio.to_thread(self._store.keep_outbound, tenant_id, send_id, pdf)
        await asyncio.to_thread(write_durably, self._tiff(send_id), tiff)
        now = utc(self._clock())
        send = FaxSend(id=send_id, tenant_id=tenant_id, to_number=dest.digits, pages=pages,
                       status="sending", pdf_sha256=sha, created_at=now,
                       retries_left=self._retries, sent_by=sent_by)
        attempt = FaxAttempt(id=ari_ids.make(ari_ids.Kind.FAX_OUT, send_id, 1), send_id=send_id,
                             tenant_id=tenant_id, started_at=now, requested_by=sent_by)
        async with self._sessions() as s:
            s.add(send)
            await s.flush()
            s.add(attempt)
            await s.commit()
        log.info("fax %s: %d page(s) to %s asked by %s, attempt %s saved", send_id, pages,
                 dest.digits, sent_by or "an unknown sender", attempt.id)
        self._spawn(self.dial(attempt.id, caller_id))
        return send

    async def resend(self, tenant_id: int, send_id: str, *,
                     requested_by: SentBy | None = None) -> FaxSend | None:
        """A new attempt of a failed send, kept with who asked for it (None: no such send;
        ``Conflict`` while one is still open, a retry is planned, or it was sent).  Dialled
        on request: through the outward gate again (the tenant's policy now, and its rate
        limits)."""
        async with self._sessions() as s:
            to = await s.scalar(select(FaxSend.to_number).where(FaxSend.id == send_id,
                                                               FaxSend.tenant_id == tenant_id))
        if to is None:
            return None
        await self._outward.check(tenant_id, "+" + to, path="fax")
        return await self._again(send_id, "failed", requested_by, tenant_id)

    async def _again(self, send_id: str, expected: str, requested_by: RequestedBy | None,
                     tenant_id: int | None = None) -> FaxSend | None:
        """The send's next attempt, asked for by ``requested_by``, saved, then dialled, if
        the send is still ``expected``.  Its TIFF is rendered first (from the kept PDF: the
        last attempt's went with it): a disk that cannot take it leaves the send as it was."""
        async with self._sessions() as s:
            seen = select(FaxSend.tenant_id, FaxSend.status).where(FaxSend.id == send_id)
            if tenant_id is not None:
                seen = seen.where(FaxSend.tenant_id == tenant_id)
            found = (await s.execute(seen)).first()
        if found is None or (found.status != expected and expected != "failed"):
            return None  # (gone; or resent or deleted meanwhile: this retry is over)
        if found.status == expected:
            pdf = await asyncio.to_thread(
                self._store.path(found.tenant_id, f"out-{send_id}", "pdf").read_bytes)
            tiff, _ = await asyncio.to_thread(pdf_to_tiff, pdf)
            await asyncio.to_thread(write_durably, self._tiff(send_id), tiff)
        now = utc(self._clock())
        async with self._sessions() as s:
            query = select(FaxSend).where(FaxSend.id == send_id)
            if tenant_id is not None:
                query = query.where(FaxSend.tenant_id == tenant_id)
            send = await s.scalar(query.with_for_update())
            if send is None:
                return None
            if send.status != expected:
                if expected != "failed":
                    return None  # resent or deleted meanwhile: this retry is over
                raise Conflict(f"the fax is {send.status}: only a failed fax is sent again",
                               error_id="fax-not-failed")
            tries = await s.scalar(select(func.count()).select_from(FaxAttempt)
                                   .where(FaxAttempt.send_id == send_id))
            attempt = FaxAttempt(id=ari_ids.make(ari_ids.Kind.FAX_OUT, send_id, (tries or 0) + 1),
                                 send_id=send_id, tenant_id=send.tenant_id, started_at=now,
                                 requested_by=requested_by)
            s.add(attempt)
            send.status, send.retry_at = "sending", None
            if expected == "failed":  # sent again on request: its own retries again
                send.retries_left = self._retries
            settings = await callbacks_repo.settings(s, send.tenant_id)
            caller_id = await callbacks_repo.caller_id(s, settings)
            await s.commit()
        log.info("fax %s: attempt %s asked by %s saved", send_id, attempt.id,
                 requested_by or "an unknown sender")
        self._spawn(self.dial(attempt.id, caller_id))
        return send

    def _plan(self, send_id: str, at: dt.datetime) -> None:
        """Dial the send's next attempt at ``at`` (once, however often it is planned)."""
        task = self._planned.get(send_id)
        if task is not None and not task.done():
            return
        delay = max(0.0, at.timestamp() - self._clock())
        self._planned[send_id] = task = asyncio.create_task(self._retry(send_id, delay),
                                                            name=f"fax-retry-{send_id}")
        task.add_done_callback(lambda t: self._planned.pop(send_id)
                               if self._planned.get(send_id) is t else None)

    async def _retry(self, send_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            if await self._again(send_id, "retrying", "retry") is not None:
                log.info("fax %s: dialled again after a busy or unanswered line", send_id)
        except Exception:
            log.exception("fax %s: the retry failed; it stays planned for the next start",
                          send_id)

    async def plan_retries(self) -> int:
        """The retries saved by this or a previous process, planned (on every ARI connect)."""
        async with self._sessions() as s:
            rows = (await s.execute(select(FaxSend.id, FaxSend.retry_at)
                                    .where(FaxSend.status == "retrying"))).all()
        for send_id, at in rows:
            self._plan(send_id, at or utc(self._clock()))
        return len(rows)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="fax-dial")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def dial(self, attempt_id: str, caller_id: str | None = None) -> None:
        """Dial the saved attempt.  One that cannot be (the PBX refuses it, trunk admission
        or the database fails meanwhile) ends lost, so the send fails or is retried as after
        any lost attempt, rather than staying "sending" until the next ARI connect."""
        try:
            await self._dial_attempt(attempt_id, caller_id)
        except Exception:
            log.exception("fax attempt %s could not be dialled", attempt_id)
            try:
                await self.ended(attempt_id, Report.lost("dial-failed"))
            except Exception:  # (the database away too: the reconcile at the next connect)
                log.exception("fax attempt %s: its end not saved", attempt_id)

    async def _dial_attempt(self, attempt_id: str, caller_id: str | None) -> None:
        async with self._sessions() as s:
            attempt = await s.get(FaxAttempt, attempt_id)
            send = await s.get(FaxSend, attempt.send_id) if attempt else None
        if attempt is None or send is None or attempt.status != "dialing":
            return
        if self.ari is None:
            await self.ended(attempt_id, Report.lost("no-pbx"))
            return
        if self._admission is not None:
            admitted = await self._admission.admit_outbound(send.tenant_id, attempt_id)
            if not admitted.admit:
                await self.ended(attempt_id, Report.lost(admitted.reason[:64]))
                return
        endpoint = self._dial.format(trunk=self._trunk, host=self._host, digits=send.to_number)
        try:
            await self.ari.originate(endpoint, channel_id=attempt_id, app_args=("faxout", attempt_id),
                                     caller_id=caller_id or None, timeout=30,
                                     variables=ari_ids.sip_header(endpoint, attempt_id))
        except AriConflict:
            log.info("fax attempt %s was dialled already: not again", attempt_id)
        except AriError as exc:
            log.warning("fax attempt %s could not be dialled: %s", attempt_id, exc)
            await self.ended(attempt_id, Report.lost("dial-failed"))

    async def answered(self, attempt_id: str) -> str | None:
        """The remote answered: the TIFF's path for SendFax (None: not an open attempt)."""
        async with self._sessions() as s:
            attempt = await s.get(FaxAttempt, attempt_id)
            if attempt is None or attempt.status not in OPEN:
                return None
            attempt.status = "sending"
            await s.commit()
        return str(self._asterisk_spool / f"out-{attempt.send_id}.tif")

    async def ended(self, attempt_id: str, report: Report) -> FaxAttempt | None:
        """Settle the attempt (once) and its send."""
        now = utc(self._clock())
        async with self._sessions() as s:
            attempt = await s.scalar(select(FaxAttempt).where(FaxAttempt.id == attempt_id)
                                     .with_for_update())
            if attempt is None or attempt.status not in OPEN:
                return None
            sent = report.status == "SUCCESS" and report.pages > 0
            attempt.status = "sent" if sent else "failed"
            attempt.pages, attempt.ended_at = report.pages, now
            attempt.error = None if sent else reason(report)
            send = await s.get(FaxSend, attempt.send_id)
            if send is not None:
                send.status = attempt.status
                if report.station:  # the machine that answered named itself
                    send.station_id = report.station
                if not sent and retry(report, send.retries_left):
                    send.status, send.retries_left = "retrying", send.retries_left - 1
                    send.retry_at = now + dt.timedelta(seconds=self._retry_after_s)
            await s.commit()
        log.info("fax attempt %s %s: %d page(s) (%s), station %r", attempt_id, attempt.status,
                 report.pages, attempt.error or "ok", report.station)
        if self._admission is not None:
            await self._admission.release(attempt_id)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._tiff(attempt.send_id).unlink, missing_ok=True)
        if send is not None and send.retry_at is not None:
            log.info("fax %s: %s, dialled again at %s", send.id, attempt.error, send.retry_at)
            self._plan(send.id, send.retry_at)
        return attempt

    async def open_attempts(self) -> list[str]:
        async with self._sessions() as s:
            return list(await s.scalars(select(FaxAttempt.id).where(FaxAttempt.status.in_(OPEN))))

    async def get(self, tenant_id: int, send_id: str) -> tuple[FaxSend, list[FaxAttempt]] | None:
        async with self._sessions() as s:
            send = await s.scalar(select(FaxSend).where(FaxSend.id == send_id,
                                                        FaxSend.tenant_id == tenant_id))
            if send is None:
                return None
            attempts = list(await s.scalars(select(FaxAttempt).where(FaxAttempt.send_id == send_id)
                                            .order_by(FaxAttempt.started_at)))
        return send, attempts

    async def pdf(self, tenant_id: int, send_id: str) -> bytes | None:
        """The document a send faxed, as the tenant gave it (None: no such send of the
        tenant's, or its file is gone)."""
        async with self._sessions() as s:
            known = await s.scalar(select(FaxSend.id).where(FaxSend.id == send_id,
                                                            FaxSend.tenant_id == tenant_id))
        if known is None:
            return None
        return await asyncio.to_thread(self._store.pdf, tenant_id, f"out-{send_id}")

    async def close(self) -> None:
        for task in [*self._tasks, *self._planned.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._planned.values(), return_exceptions=True)
