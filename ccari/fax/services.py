"""Receive a fax: save it as ``receiving`` before Asterisk answers, settle it from res_fax's
report, then route it like any contact.

* :meth:`FaxService.arrived`: a call to a tenant's fax number (checked against the
  database: the DID is a fax number of that tenant).  The ``receiving`` row is committed
  before the call is answered; the answer is the file Asterisk writes the TIFF to.
* :meth:`FaxService.settle`: res_fax's report (or its absence).  The TIFF is stored under
  the state directory with its checksum and converted to PDF, then one transaction saves
  the outcome and the contact (queued for the number's queue, or ended as failed when no
  page came) with a ``fax`` event in its log; only then is Asterisk's file removed and the
  contact routed.  A fax settles once: a replayed report finds it settled.  With no report
  (the call ended while ccari was away) the pages in Asterisk's file are kept as a partial
  fax: nothing received is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import State
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.crm import repo as crm_repo
from ccari.crm.entitlements import routing_attributes_for
from ccari.fax.core import Outcome, Report, contact_state, outcome, reason
from ccari.fax.models import Fax, FaxPolicy
from ccari.fax.store import FaxStore, count_pages
from ccari.storage.models import Contact, ContactEvent, Number, Tenant

log = logging.getLogger(__name__)
MEDIUM = "fax"
POLICY_TTL_S = 1.0  # how long the tenants' fax-detection settings are kept


class FaxService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 store: FaxStore, *, spool: Path, asterisk_spool: PurePosixPath, node: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self.store = store
        self._spool = spool  # where ccari reads what Asterisk writes
        self._asterisk_spool = asterisk_spool  # the same directory, as Asterisk sees it
        self._node = node
        self._clock = clock
        self._detecting: frozenset[int] = frozenset()  # tenants listening for fax tones...
        self._detecting_until = 0.0  # ...as read before this (monotonic)
        self._detecting_lock = asyncio.Lock()

    async def arrived(self, channel_id: str, did: str, tenant_slug: str,
                      sender: str | None) -> str | None:
        """Save the fax as receiving; the TIFF's path for Asterisk, or None when ``did`` is
        not a fax number of ``tenant_slug`` (the call is refused)."""
        async with self._sessions() as s:
            number = await s.scalar(
                select(Number).join(Tenant, Tenant.id == Number.tenant_id)
                .where(Number.did == did, Tenant.slug == tenant_slug, Number.purpose == "fax"))
            return await self._receiving(s, number, channel_id, sender, detected=False)

    async def detected(self, channel_id: str, did: str, tenant_id: int,
                       sender: str | None) -> str | None:
        """A fax machine found by its tones on a voice number (``fax.detect``): saved like
        :meth:`arrived`; None when ``did`` is not a number of that tenant or the tenant
        does not detect faxes (the call is refused)."""
        async with self._sessions() as s:
            number = await s.scalar(select(Number).where(Number.did == did,
                                                         Number.tenant_id == tenant_id))
            policy = await s.get(FaxPolicy, tenant_id)
            if policy is None or not policy.detect_on_voice:
                number = None
            return await self._receiving(s, number, channel_id, sender, detected=True)

    async def _receiving(self, s: AsyncSession, number: Number | None, channel_id: str,
                         sender: str | None, *, detected: bool) -> str | None:
        if number is None:
            return None
        existing = await s.scalar(select(Fax).where(Fax.channel_id == channel_id))
        fax = existing or Fax(tenant_id=number.tenant_id, number_id=number.id,
                              channel_id=channel_id, sender_number=sender or None,
                              created_at=utc(self._clock()), detected=detected)
        s.add(fax)
        await s.commit()
        log.info("fax %s arriving on %s from %s%s", fax.id, number.did, sender,
                 " (found by its tones)" if detected else "")
        return str(self._asterisk_spool / f"{fax.id}.tif")

    async def policy(self, tenant_id: int) -> FaxPolicy:
        """The tenant's fax settings (the defaults when it has set none)."""
        async with self._sessions() as s:
            policy = await s.get(FaxPolicy, tenant_id)
        return policy or FaxPolicy(tenant_id=tenant_id, detect_on_voice=False)

    async def detects_on_voice(self, tenant_id: int) -> bool:
        """Does the tenant listen for fax tones on its voice numbers?  Asked for every new
        call, so every tenant's answer is read at once and kept :data:`POLICY_TTL_S` (a
        change on another node is seen that much later; on this one at once)."""
        async with self._detecting_lock:
            if time.monotonic() >= self._detecting_until:
                async with self._sessions() as s:
                    ids = await s.scalars(select(FaxPolicy.tenant_id)
                                          .where(FaxPolicy.detect_on_voice.is_(True)))
                    self._detecting = frozenset(ids)
                self._detecting_until = time.monotonic() + POLICY_TTL_S
            return tenant_id in self._detecting

    async def set_policy(self, tenant_id: int, *, detect_on_voice: bool) -> FaxPolicy:
        async with self._sessions() as s:
            policy = await s.get(FaxPolicy, tenant_id)
            if policy is None:
                policy = FaxPolicy(tenant_id=tenant_id)
                s.add(policy)
            policy.detect_on_voice = detect_on_voice
            await s.commit()
        async with self._detecting_lock:  # (after a read under way, not before it)
            self._detecting_until = 0.0  # read again at the next call
        log.info("tenant %s: fax tones on voice numbers %s", tenant_id,
                 "detected" if detect_on_voice else "not detected")
        return policy

    async def settle(self, channel_id: str, report: Report) -> Fax | None:
        """Keep what came (once); the settled fax, or None if there is none to settle."""
        async with self._sessions() as s:
            fax = await s.scalar(select(Fax).where(Fax.channel_id == channel_id,
                                                   Fax.status == "receiving"))
        if fax is None:
            return None
        spooled = self._spool / f"{fax.id}.tif"
        try:
            tiff: bytes | None = await asyncio.to_thread(spooled.read_bytes)
        except OSError:
            tiff = None
        if not report.status and tiff:  # no report (ccari was away): the file says what came
            report = dataclasses.replace(report, pages=await asyncio.to_thread(count_pages, tiff))
        result = outcome(report)
        stored = None
        if result is not Outcome.FAILED:
            try:
                if tiff is None:
                    raise ValueError(f"no TIFF at {spooled}")
                stored = await asyncio.to_thread(self.store.keep, fax.tenant_id, fax.id, tiff)
            except ValueError as exc:
                log.warning("fax %s: %d page(s) reported but no document kept: %s",
                            fax.id, report.pages, exc)
                report = dataclasses.replace(report, pages=0,
                                             error=report.error or "no-document")
                result = Outcome.FAILED
        now = utc(self._clock())
        async with self._sessions() as s:
            row = await s.scalar(select(Fax).where(Fax.id == fax.id, Fax.status == "receiving")
                                 .with_for_update())
            if row is None:
                return None  # settled meanwhile
            number = await s.get(Number, row.number_id) if row.number_id is not None else None
            # The sender's customer record: the screen pop, and the routing it calls for.
            customer = await crm_repo.by_phone(s, row.tenant_id, row.sender_number)
            attributes = await routing_attributes_for(s, row.tenant_id, customer)
            state = contact_state(result)
            contact = await contacts_repo.create(
                s, id=row.id, tenant_id=row.tenant_id, medium=MEDIUM, state=state.value,
                node=self._node, channel_id=channel_id,
                number_id=row.number_id, queue_id=number.queue_id if number else None,
                caller_number=row.sender_number, caller_name=report.station or None,
                customer_id=customer.id if customer is not None else None, attributes=attributes,
                arrived_at=row.created_at, queued_at=now if state is State.QUEUED else None,
                ended_at=None if state is State.QUEUED else now,
                disposition=None if state is State.QUEUED else "fax-failed",
                # How it came, for the screen pop: found by its tones on a voice number
                # (or dialled to the fax number), and over T.38 or as G.711 audio.
                meta={"fax": {"detected": row.detected, "mode": report.mode or None}},
            )
            row.status, row.pages, row.contact_id = result.value, report.pages, contact.id
            row.station_id = report.station or None
            row.error = None if result is Outcome.RECEIVED else reason(report)
            row.detail = report.detail or None
            row.mode = report.mode or None
            row.settled_at = now
            if stored is not None:
                row.tiff_sha256, row.pdf_sha256 = stored.tiff_sha256, stored.pdf_sha256
            s.add(ContactEvent(tenant_id=row.tenant_id, contact_id=contact.id, kind="fax", at=now,
                               data={"status": result.value, "pages": report.pages,
                                     "error": row.error, "station": row.station_id,
                                     "detected": row.detected, "mode": row.mode},
                               note=None if result is Outcome.RECEIVED else
                               f"fax {result.value}: {row.error}, {report.pages} page(s)"))
            await s.commit()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(spooled.unlink, missing_ok=True)
        log.info("fax %s %s: %d page(s) from %s (%s)", row.id, result.value, report.pages,
                 row.sender_number, row.error or "ok")
        if state is State.QUEUED:
            await self._queue.enqueue(contact)
        return row

    async def receiving(self) -> list[str]:
        """The channels of faxes still being received (what a reconcile checks)."""
        async with self._sessions() as s:
            return list(await s.scalars(select(Fax.channel_id).where(Fax.status == "receiving")))

    async def get(self, tenant_id: int, fax_id: str) -> Fax | None:
        async with self._sessions() as s:
            fax: Fax | None = await s.scalar(
                select(Fax).where(Fax.id == fax_id, Fax.tenant_id == tenant_id))
        return fax

    async def pdf(self, tenant_id: int, fax_id: str) -> bytes | None:
        fax = await self.get(tenant_id, fax_id)
        if fax is None or fax.pdf_sha256 is None:
            return None
        return await asyncio.to_thread(self.store.pdf, tenant_id, fax_id)

    async def delete(self, tenant_id: int, fax_id: str) -> bool | None:
        """Forget a settled fax's document: None if there is no such fax, False while it
        is still being received or waits for an agent (the contact stays in the log)."""
        async with self._sessions() as s:
            fax = await s.scalar(select(Fax).where(Fax.id == fax_id, Fax.tenant_id == tenant_id)
                                 .with_for_update())
            if fax is None:
                return None
            contact = await s.get(Contact, fax.contact_id) if fax.contact_id else None
            if fax.status == "receiving" or (contact is not None and contact.state in (
                    State.QUEUED, State.OFFERED, State.CONNECTED)):
                return False
            await s.delete(fax)
            await s.commit()
        await asyncio.to_thread(self.store.delete, tenant_id, fax_id)
        log.info("fax %s deleted", fax_id)
        return True
