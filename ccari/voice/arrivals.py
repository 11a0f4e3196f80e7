"""A carrier's call arriving at the voice ACD (``VoiceService.inbound``), up to its first step.

The called number's route (an unknown number is rejected), the node's overload gate
(``overload.py``), the number's business hours (its after-hours route, decided now:
``afterhours.py``), then trunk admission and the call's contact in one shared commit, before
the call is answered; over the tenant's trunk limit, the overflow treatment the tenant chose
or the refusal (``overflow.py``).  Once answered, what listens on the line from the start is
told, then the call takes its first step: the closed announcement, or its treatment (the
overflow treatment, the IVR, the queue: ``treatment.py``), under the call's lock.

A database outage before anything is saved turns the caller away with the fallback, not
silence; one that cuts the arrival short after the contact is saved leaves the call to the
reconcile after the outage (``cut_short``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable

from ccari import logs
from ccari.ari import AriClient
from ccari.storage.batch import GroupCommit
from ccari.storage.db import DATABASE_DOWN
from ccari.storage.models import ContactMeta
from ccari.tenants.directory import AfterHours, NumberDirectory
from ccari.voice import ivr as ivr_mod
from ccari.voice import moves
from ccari.voice.afterhours import Announcement, after_hours
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import safe
from ccari.voice.overflow import Overflow
from ccari.voice.overload import LoadMonitor
from ccari.voice.ports import AdmissionPort, IvrCallbacks

log = logging.getLogger(__name__)
Listener = Callable[[Call], Awaitable[None]]


class Arrivals:
    def __init__(self, ari: AriClient, calls: CallRegistry, directory: NumberDirectory,
                 load: LoadMonitor, admission: AdmissionPort, overflow: Overflow,
                 closed: Announcement, writes: GroupCommit, now: Callable[[], dt.datetime], *,
                 node: str, callbacks: IvrCallbacks | None,
                 answer: Callable[[Call], Awaitable[bool]], answered: list[Listener],
                 treat: Callable[[Call, ivr_mod.Menu | None], Awaitable[None]],
                 cut_short: Callable[[Call], None]) -> None:
        """``answer``: answers the caller (False: she is gone); ``answered``: told once she
        is; ``treat``: the answered call's first step; ``cut_short``: forgets a saved call
        whose arrival a database outage cut short."""
        self._ari = ari
        self._calls = calls
        self._directory = directory
        self._load = load
        self._admission = admission
        self._overflow = overflow
        self._closed = closed
        self._writes = writes
        self._now = now
        self._node = node
        self._callbacks = callbacks
        self._answer = answer
        self._answered = answered
        self._treat = treat
        self._cut_short = cut_short
        # Channels whose arrival is being handled: the reconcile's and the StasisStart's of
        # the same channel (one queued while the reconcile ran) make one contact, not two.
        self._arriving: set[str] = set()

    async def inbound(self, channel_id: str, did: str, caller: str | None, name: str | None) -> None:
        if channel_id in self._arriving or self._calls.by_channel(channel_id) is not None:
            log.debug("call %s: already taken", channel_id)
            return
        self._arriving.add(channel_id)
        self._load.arriving(channel_id)
        try:
            await self._arrive(channel_id, did, caller, name)
        except DATABASE_DOWN as exc:
            call = self._calls.by_channel(channel_id)
            if call is not None:  # saved, then cut short (answered, not yet treated)
                self._cut_short(call)
                raise
            # Nothing saved, nothing answered: the caller gets the fallback, not silence.
            log.warning("call %s to %s turned away: the database is unreachable (%s)",
                        channel_id, did, exc)
            await self._overflow.refuse_overloaded(channel_id, "announce")
        finally:
            self._arriving.discard(channel_id)
            self._load.answered(channel_id)  # (if it was not: refused, or gone)

    async def _arrive(self, channel_id: str, did: str, caller: str | None, name: str | None) -> None:
        route = await self._directory.route(did)
        if route is None:
            log.info("call %s to unknown number %s rejected", channel_id, did)
            await safe(self._ari.hangup(channel_id, reason="unallocated"))
            return
        if not self._load.admit():
            log.debug("call %s to %s refused: overload", channel_id, did)
            await self._overflow.refuse_overloaded(channel_id,
                                                   self._admission.overflow_of(route.tenant_id))
            return
        # Outside its number's business hours: the after-hours route, decided now.
        closed = after_hours(route, self._now())
        night = route.after_hours if closed else None
        queue_id, menu, settings = route.queue_id, route.menu, route.settings
        if night is not None and night.action == "queue":
            queue_id, menu, settings = night.queue_id, None, night.settings or settings
        arrival = functools.partial(
            moves.arrived, tenant_id=route.tenant_id, caller=caller, node=self._node,
            channel_id=channel_id, number_id=route.number_id, queue_id=queue_id,
            caller_name=name, arrived_at=self._now())
        # Admitted: its trunk and its contact in one shared commit, before the answer.
        decision, contact = await self._admission.admit_inbound_with(
            route.tenant_id, channel_id,
            functools.partial(arrival, meta=self._night_meta(night)),
            after_hours=closed)
        overflow = None
        if contact is None:
            overflow = await self._overflow.choose(route.tenant_id, decision, caller,
                                                   self._callbacks)
            log.info("call %s to %s refused: %s, overflow %s", channel_id, did, decision.reason,
                     overflow or decision.action)
            if overflow is None:
                await self._overflow.refuse(channel_id, decision)
                return
            contact = await self._writes.run(functools.partial(
                arrival, meta={"overflow": overflow, "refused": decision.reason}))
        elif night is not None and night.action == "voicemail" and self._overflow.recorder.available:
            overflow = "voicemail"  # kept for the number's queue, with the closed prompt
        call = Call(contact.id, contact.tenant_id, channel_id, settings, overflow=overflow,
                    after_hours=night is not None,
                    closed_prompt=night.prompt if night is not None else None)
        self._calls.add(call)
        with logs.contact(contact.id, contact.tenant_id):  # its lines and its tasks' lines
            log.info("contact %s: call %s from %s to %s", contact.id, channel_id, caller, did)
            async with call.lock:
                if await self._answer(call):
                    self._load.answered(channel_id)
                    await self._tell(self._answered, call)
                    if night is not None and night.action != "queue" and overflow is None:
                        await self._closed.start(call)
                    else:
                        await self._treat(call, menu)

    def _night_meta(self, night: AfterHours | None) -> ContactMeta:
        if night is None:
            return {}
        if night.action == "voicemail" and self._overflow.recorder.available:
            return {"after_hours": night.action, "overflow": "voicemail"}  # resumed as one
        return {"after_hours": night.action}

    async def _tell(self, listeners: list[Listener], call: Call) -> None:
        for listener in listeners:
            try:
                await listener(call)
            except Exception:
                log.exception("contact %s: a listener of the call failed", call.contact_id)
