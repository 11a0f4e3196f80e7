"""Callback use cases: requests (web, API, the IVR's "call me back"), cancel, reschedule.
Decisions come from the pure :mod:`.guard`, :mod:`.limits` and :mod:`.schedule`; calls are
placed by the :class:`~ccari.callbacks.dialer.Dialer` (attached when ccari runs with a PBX),
which reports what became of each attempt to :class:`~ccari.callbacks.outcomes.Outcomes`.
After every move of a callback's contact, the lifecycle's commands are carried out by the
:class:`~ccari.callbacks.executor.CallbackExecutor`.

Life of a callback (``Callback.status``; the contact's state in brackets)::

    request (web, IVR, API)   guard + limits, saved       -> pending  [scheduled]
    due, customer first       attempt saved, originate    -> dialing  [dialing]
    due, agent first          routed like any contact     -> queued   [queued -> offered]
      the agent answers       attempt saved, originate    -> dialing  [offered]
    customer answers          prompt (customer first)     -> answered [dialing]
    presses 1 / agent bridged handed to the voice ACD     -> done     [queued|connected, voice]
    attempt fails             backoff, window, max tries  -> pending  [scheduled] | failed
    customer or supervisor cancels                        -> cancelled [abandoned]

When calls are placed is the :class:`~ccari.callbacks.scheduler.Scheduler`'s business.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.callbacks import guard, repo, schedule
from ccari.callbacks.executor import CallbackExecutor, move
from ccari.callbacks.limits import Limits
from ccari.callbacks.models import Callback, CallbackSettings
from ccari.callbacks.outcomes import Outcomes
from ccari.callbacks.outward import OutwardGuard
from ccari.callbacks.scheduler import Scheduler
from ccari.config import CallbacksConfig
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.contacts.queue_core import utc
from ccari.contacts.routing import requirements_from
from ccari.contacts.services import QueueService
from ccari.crm import repo as crm_repo
from ccari.crm.entitlements import routing_attributes_for
from ccari.errors import BadRequest, CcariError, Conflict, NotFound
from ccari.routing import Medium, WorkItem
from ccari.storage.models import Agent, Contact, ContactMeta
from ccari.tenants import repo as tenants_repo

log = logging.getLogger(__name__)


class DialerPort(Protocol):
    async def dial(self, callback_id: str) -> None: ...

    async def hang_up_agent(self, callback_id: str) -> None: ...

    async def end_attempts(self, callback_id: str) -> None: ...

    async def deliver(self, contact: Contact, agent: Agent) -> None: ...

    async def check(self, attempt_id: str) -> None: ...

    deferred_tenants: set[int]

    async def retry_deferred(self) -> None: ...

    async def take_from_ivr(self, channel_id: str, contact_id: str, attributes: dict[str, Any],
                            *, source: str = "ivr") -> bool: ...


class CallbackService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 hub: AgentHub, config: CallbacksConfig, *, node: str,
                 clock: Callable[[], float] = time.time,
                 outward: OutwardGuard | None = None) -> None:
        self._sessions = sessions
        self._queue = queue
        self.config = config
        self._node = node
        self._clock = clock
        # The process's one gate of outward numbers (shared with transfers and faxes).
        self.outward = outward or OutwardGuard(sessions, Limits.of(config), node=node,
                                               clock=clock)
        self.limiter = self.outward.limiter
        self.dialer: DialerPort | None = None
        self.executor = CallbackExecutor(queue)
        self.scheduler = Scheduler(self, sessions, node=node)
        self.outcomes = Outcomes(sessions, config, self.executor, self.scheduler.wake,
                                 clock=clock)

    def attach(self, dialer: DialerPort) -> None:
        """Calls can be placed (ccari runs with a PBX): ``dialer`` places and ends them."""
        self.dialer = self.executor.legs = dialer

    def now(self) -> dt.datetime:
        return utc(self._clock())

    # ---- requests ------------------------------------------------------------------------
    def check_ip(self, ip: str | None) -> None:
        """The per-IP limit, checked before anything else of a public request."""
        self.limiter.check(self._clock(), ip=ip or "unknown")

    async def request(self, tenant_id: int, *, phone: str, when: dt.datetime | None, source: str,
                      page_url: str | None = None, attributes: dict[str, Any] | None = None,
                      session_id: str | None = None, request_key: str | None = None,
                      place_at: dt.datetime | None = None, customer_first: bool = False,
                      session: AsyncSession | None = None) -> tuple[Callback, bool]:
        """Guard, limit, then save a callback and its contact; (callback, created).

        ``when`` None is "now".  A retried request (same session and Idempotency-Key) gets
        the first one back.  Saved before this returns (save, then acknowledge)."""
        if session is None:
            async with self._sessions() as s:
                result = await self.request(
                    tenant_id, phone=phone, when=when, source=source, page_url=page_url,
                    attributes=attributes, session_id=session_id, request_key=request_key,
                    place_at=place_at, customer_first=customer_first, session=s)
                await s.commit()
            self.scheduler.wake()
            return result
        s, now = session, self.now()
        if request_key:
            again = await repo.by_request_key(s, tenant_id, session_id, request_key)
            if again is not None:
                return again, False
        if when is not None and when > now + dt.timedelta(seconds=self.config.max_ahead_s):
            raise BadRequest("that is too far ahead", error_id="bad-time")
        settings = await repo.settings(s, tenant_id)
        dest = await self.outward.check(tenant_id, phone, path=source, session=s, limit=False)
        attrs = dict(attributes or {})
        skill = attrs.get("skill")
        if skill is not None and not await repo.has_skill(s, tenant_id, "skill", str(skill)):
            raise BadRequest("no agent has this skill", error_id="unknown-skill")
        if await repo.open_for_phone(s, tenant_id, dest.e164) is not None:
            raise Conflict("a callback to this number is already planned", error_id="callback-exists")
        self.outward.limit(tenant_id, dest, path=source)
        start, window_end = schedule.window(when, now, settings.window_s)
        queue = await tenants_repo.queue(s, tenant_id, None)
        customer = await crm_repo.by_phone(s, tenant_id, dest.digits)
        # Routed like the customer's calls: entitlements may require attributes (tier=gold).
        attrs.update(await routing_attributes_for(s, tenant_id, customer))
        meta: ContactMeta = {"page_url": page_url} if page_url else {}
        contact = await contacts_repo.create(
            s, tenant_id=tenant_id, medium="callback", state="scheduled", node=self._node,
            caller_number=dest.digits, customer_id=customer.id if customer else None,
            queue_id=queue.id if queue else None, attributes=attrs, meta=meta, arrived_at=now,
            not_before=start)
        cb = Callback(
            tenant_id=tenant_id, contact_id=contact.id, phone=dest.e164, source=source,
            mode="customer_first" if customer_first else settings.mode, status="pending",
            place_at=place_at or start, not_before=start, window_end=window_end,
            next_attempt_at=start, max_tries=settings.max_tries, page_url=page_url,
            session_id=session_id, request_key=request_key, created_at=now)
        s.add(cb)
        try:
            await s.flush()
        except IntegrityError:  # the same number asked for at the same moment
            raise Conflict("a callback to this number is already planned",
                           error_id="callback-exists") from None
        contact.meta = {**meta, "callback": cb.id}
        log.info("callback %s (contact %s) for %s at %s, %s, from %s", cb.id, contact.id,
                 dest.e164, start.isoformat(), cb.mode, source,
                 extra=logs.about(contact.id, tenant_id))
        return cb, True

    async def from_ivr(self, voice_contact_id: str, attributes: dict[str, Any], *,
                       source: str = "ivr") -> Callback:
        """A caller chose "call me back" in the IVR (or in the overflow offer, ``source``
        ``overflow``), with their routing ``attributes``: the callback keeps their place
        (their arrival time) and their voice contact ends as ``callback-requested``."""
        now = self.now()
        async with self._sessions() as s:
            voice = await contacts_repo.get(s, voice_contact_id, for_update=True)
            if voice is None or voice.state != "ivr":
                raise Conflict("the call is no longer in the IVR", error_id="not-in-ivr")
            number = voice.caller_number or ""
            # Not before the caller has hung up (ivr_caller_left); this bound holds if the
            # hang-up is never seen (a restart meanwhile).
            cb, _ = await self.request(
                voice.tenant_id, phone=number if number.startswith("+") else "+" + number,
                when=now + dt.timedelta(seconds=self.config.ivr_hold_s),
                source="overflow" if source == "overflow" else "ivr",
                attributes=attributes, place_at=voice.arrived_at, session=s)
            await contacts_repo.apply(
                s, voice, Fact.SELF_SERVED, at=now, ended_at=now, disposition="callback-requested",
                wait_s=round((now - voice.arrived_at).total_seconds(), 3))
            await s.commit()
        self.scheduler.wake()
        return cb

    async def after_lost_call(self, contact_id: str) -> Callback | None:
        """The caller of voice contact ``contact_id`` was waiting for an agent when the
        Asterisk carrying the call was lost (the contact is closed).  If the tenant calls
        such callers back (``after_lost_call``) and may dial their number, a callback keeps
        their place (their time in the queue), first tried ``lost_call_delay_s`` from now;
        the voice contact's log says which callback, or why none."""
        now = self.now()
        async with self._sessions() as s:
            voice = await contacts_repo.get(s, contact_id)
            if voice is None or not voice.caller_number:
                return None
            if not (await repo.settings(s, voice.tenant_id)).after_lost_call:
                return None
            number = voice.caller_number
            try:
                cb, _ = await self.request(
                    voice.tenant_id, phone=number if number.startswith("+") else "+" + number,
                    when=now + dt.timedelta(seconds=self.config.lost_call_delay_s),
                    source="lost", attributes=dict(voice.attributes),
                    place_at=voice.queued_at or voice.arrived_at, session=s)
            except CcariError as exc:
                log.info("contact %s: no callback after the lost call: %s", contact_id, exc,
                         extra=logs.about(contact_id, voice.tenant_id))
                await contacts_repo.log(s, voice, "callback-refused", now, error=exc.error_id)
                await s.commit()
                return None
            await contacts_repo.log(s, voice, "callback-planned", now, callback=cb.id)
            await s.commit()
        self.scheduler.wake()
        return cb

    # ---- the IVR's "call me back" (ccari.voice.ports.IvrCallbacks, given to the voice ACD) --
    async def can_call_back(self, tenant_id: int, number: str) -> bool:
        return await self.can_call(tenant_id, number)

    async def take_from_ivr(self, channel_id: str, contact_id: str, attributes: dict[str, Any],
                            *, source: str = "ivr") -> bool:
        """The caller is the dialer's from now on (it confirms the callback, then hangs up);
        False (no dialer: no PBX; the number refused): the caller queues as usual."""
        if self.dialer is None:
            return False
        return await self.dialer.take_from_ivr(channel_id, contact_id, attributes, source=source)

    async def can_call(self, tenant_id: int, number: str) -> bool:
        """Would :meth:`request` accept a callback to ``number`` now (the outward gate passes,
        no callback to it is planned)?  Asked before a callback is offered to a caller."""
        phone = number if number.startswith("+") else "+" + number
        async with self._sessions() as s:
            if not await self.outward.allows(s, tenant_id, phone):
                return False
            return await repo.open_for_phone(s, tenant_id, guard.parse(phone).e164) is None

    async def ivr_caller_left(self, callback_id: str) -> None:
        """The caller who asked for this callback hung up: call them back when their place
        in the queue comes up (the predicted wait from their arrival), at the earliest
        ``ivr_gap_s`` from now."""
        now = self.now()
        async with self._sessions() as s:
            cb = await repo.get(s, callback_id, for_update=True)
            contact = await contacts_repo.get(s, cb.contact_id) if cb else None
            if cb is None or contact is None or cb.status != "pending" or cb.tries:
                return
            wait = self.predicted_wait(contact, cb.place_at) or 0.0
            at = now + dt.timedelta(seconds=max(self.config.ivr_gap_s, wait))
            cb.next_attempt_at = cb.not_before = contact.not_before = at
            cb.window_end = max(cb.window_end, at + dt.timedelta(seconds=self.config.ivr_hold_s))
            await s.commit()
        log.info("callback %s: the caller hung up; first call at %s", callback_id, at.isoformat())
        self.scheduler.wake()

    def predicted_wait(self, contact: Contact, arrived: dt.datetime) -> float | None:
        """Seconds from now until this request, as a voice call that arrived at ``arrived``
        (its place), would be offered to an agent (None: no staffed agent can take it)."""
        item = WorkItem(id=f"\uffff-{contact.id}", tenant=str(contact.tenant_id), medium=Medium.VOICE,
                        requirements=requirements_from(contact.attributes or {}),
                        arrived_at=arrived.timestamp(), queue=str(contact.queue_id or "default"))
        wait = self._queue.router.predict_new(item, self._clock()).wait
        return wait if math.isfinite(wait) else None

    async def status(self, tenant_id: int, callback_id: str, *, session_id: str | None = None) -> Callback:
        async with self._sessions() as s:
            return await self._own(s, tenant_id, callback_id, session_id)

    async def _own(self, s: AsyncSession, tenant_id: int, callback_id: str, session_id: str | None,
                   *, for_update: bool = False) -> Callback:
        cb = await repo.get(s, callback_id, tenant_id, for_update=for_update)
        # A customer sees only the callbacks of their own browser session (else: not found).
        if cb is None or (session_id is not None and cb.session_id != session_id):
            raise NotFound("no such callback", error_id="callback-not-found")
        return cb

    async def of_tenant(self, tenant_id: int, statuses: list[str] | None = None) -> list[Callback]:
        async with self._sessions() as s:
            return await repo.for_tenant(s, tenant_id, statuses)

    async def cancel(self, tenant_id: int, callback_id: str, *, session_id: str | None = None,
                     by: str = "customer") -> Callback:
        """Stop a callback: no further attempt; a call in progress is hung up."""
        now = self.now()
        async with self._sessions() as s:
            cb = await self._own(s, tenant_id, callback_id, session_id, for_update=True)
            if cb.status in ("cancelled", "failed"):
                return cb
            if cb.status == "done":
                raise Conflict("the callback has already reached an agent", error_id="callback-done")
            previous = cb.status
            cb.status, cb.next_attempt_at, cb.ended_at = "cancelled", None, now
            cb.last_result = f"cancelled-by-{by}"
            followup = await move(s, cb, Fact.CUSTOMER_LEFT, at=now, ended_at=now,
                                  disposition=f"cancelled-by-{by}", not_before=None)
            await s.commit()
        log.info("callback %s cancelled by %s (was %s)", cb.id, by, previous)
        await self.executor.carry_out(followup)
        self.scheduler.wake()
        return cb

    async def reschedule(self, tenant_id: int, callback_id: str, when: dt.datetime) -> Callback:
        """A supervisor moves a waiting callback (earlier or later); its window follows."""
        now = self.now()
        async with self._sessions() as s:
            cb = await self._own(s, tenant_id, callback_id, None, for_update=True)
            if cb.status not in ("pending", "queued"):
                raise Conflict(f"the callback is {cb.status}", error_id="callback-not-waiting")
            settings = await repo.settings(s, tenant_id)
            at, cb.window_end = schedule.rescheduled(when, now, cb.window_end, settings.window_s)
            cb.status, cb.next_attempt_at, cb.not_before = "pending", at, at
            followup = await move(s, cb, Fact.RESCHEDULED, at=now, not_before=at, agent_id=None)
            await s.commit()
        await self.executor.carry_out(followup)
        log.info("callback %s rescheduled to %s", cb.id, at.isoformat())
        self.scheduler.wake()
        return cb

    async def of_contact(self, tenant_id: int, contact_id: str) -> Callback:
        """The callback of a contact (the supervisor's pending list works with contacts)."""
        async with self._sessions() as s:
            cb = await repo.by_contact(s, contact_id)
        if cb is None or cb.tenant_id != tenant_id:
            raise NotFound("no such callback", error_id="callback-not-found")
        return cb

    async def reschedule_contact(self, tenant_id: int, contact_id: str, when: dt.datetime) -> Callback:
        return await self.reschedule(tenant_id, (await self.of_contact(tenant_id, contact_id)).id, when)

    async def settings(self, tenant_id: int) -> CallbackSettings:
        async with self._sessions() as s:
            return await repo.settings(s, tenant_id)

    async def set_settings(self, tenant_id: int, changes: dict[str, Any]) -> CallbackSettings:
        async with self._sessions() as s:
            row = await s.get(CallbackSettings, tenant_id)
            if row is None:
                row = repo.defaults(tenant_id)
                s.add(row)
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = self.now()
            await s.commit()
            return row

    # ---- the scheduler -------------------------------------------------------------------
    def start(self) -> None:
        """Start placing calls (once connected to the PBX and reconciled)."""
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()
        await self.outward.close()

    # ---- agent first: the deliverer of medium "callback" ----------------------------------
    async def deliver(self, contact: Contact, agent: Agent) -> None:
        if self.dialer is None:  # no PBX (ccari serve --no-pbx): nothing can be placed
            await self._queue.withdraw(contact.id)
            return
        await self.dialer.deliver(contact, agent)
