"""Places and drives callback calls over ARI: the executor of :mod:`.services`' decisions.

Ids (stable, so a restarted ccari finds what it started):

* ``cb-<callback id>-<n>``: attempt n to the customer, dialled as
  ``PJSIP/<trunk>/sip:<E.164 digits>@<carrier>`` into ccari's app with the arguments
  ``(callback, <attempt id>)``; the INVITE carries ``X-Ccari-Attempt: <attempt id>``.
* ``cba-<contact id>-<offer>``: agent first, the agent's phone, arguments ``(cbagent, <contact>)``.
* playbacks ``cbp-<attempt id>-<k>`` (the "press 1" prompt) and ``cbc-<channel>`` (the IVR
  confirmation).

**Never twice for one attempt**: trunk admission first, then the attempt row is committed,
then the originate is sent once.  ARI is never asked again under the same id: a timeout is
answered by looking the channel up (there: adopt it; gone: the attempt is ``unknown`` and
the scheduler places attempt n+1 after the backoff).

Customer first: answered -> prompt (up to ``prompt_plays`` times, ``confirm_timeout_s``
after each) -> "1" -> the customer's channel is handed to the voice ACD as a queued voice
contact keeping the callback's place (:meth:`ccari.voice.handover.Handover.adopt_queued`).  No "1": the
attempt is ``not-confirmed`` (often an answering machine) and retried.
Agent first: the router offers the callback contact to a skilled agent -> their phone rings
with the screen pop on their page -> when they answer (music on hold) the customer is dialled
-> when the customer answers both legs go to the voice ACD as a connected call
(:meth:`ccari.voice.handover.Handover.adopt_connected`).  Customer not reached: the agent is released and
the callback is retried later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.ari import AriClient, ids
from ccari.ari.errors import AriConflict, AriError, AriNotFound, AriTimeout, AriUnavailable
from ccari.ari.ids import Kind
from ccari.callbacks import repo, schedule
from ccari.callbacks.agent_first import AgentFirst
from ccari.callbacks.legs import AgentLeg, Leg, OutboundAdmission, VoicePort, callback_of
from ccari.callbacks.models import CallbackAttempt
from ccari.callbacks.services import CallbackService
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.errors import CcariError
from ccari.storage.models import Agent, Contact
from ccari.tasks import TaskSet
from ccari.voice.ports import LegPlanner, PlanNothing

log = logging.getLogger(__name__)


class Dialer:
    def __init__(self, ari: AriClient, voice: VoicePort, service: CallbackService,
                 sessions: async_sessionmaker[AsyncSession], queue: QueueService, hub: AgentHub,
                 admission: OutboundAdmission, *, node: str, outbound_host: str,
                 sound_prefix: str = "ccari/", moh_class: str = "default",
                 clock: Callable[[], float] = time.time, legs: LegPlanner | None = None) -> None:
        self.ari = ari
        # The agent-first legs' bandwidth, counted on the agent's site till they end.
        self.bandwidth: LegPlanner = legs or PlanNothing()
        self._voice = voice
        self.service = service
        self.sessions = sessions
        self._admission = admission
        self.node = node
        self._host = outbound_host
        self._prefix = sound_prefix
        self._clock = clock
        self._cfg = service.config
        self.legs: dict[str, Leg] = {}
        self.agent_first = AgentFirst(self, queue, hub, voice, moh_class)
        self._confirming: dict[str, str] = {}  # IVR channel -> its callback
        self.placing: set[str] = set()  # callbacks between their claim and their originate
        # Tenants with callbacks deferred by trunk admission: tried again once it would admit.
        self.deferred_tenants: set[int] = set()
        self._locks = [asyncio.Lock() for _ in range(64)]
        self._tasks = TaskSet("callbacks-dialer")

    def forget_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: no more retries of its deferred callbacks
        (``Runtime.tenant_gone``)."""
        self.deferred_tenants.discard(tenant_id)

    def now(self) -> dt.datetime:
        return utc(self._clock())

    def lock(self, callback_id: str) -> asyncio.Lock:
        return self._locks[hash(callback_id) % len(self._locks)]

    async def close(self) -> None:
        for leg in self.legs.values():
            leg.cancel_timer()
        await self._tasks.close()

    def _sound(self, name: str) -> str:
        return f"sound:{self._prefix}{name}"

    async def safe(self, aw: Awaitable[Any]) -> None:
        """ARI calls on channels that may have just hung up: 404 is expected."""
        try:
            await aw
        except AriNotFound:
            log.debug("ARI object already gone")
        except AriError as exc:
            log.warning("ARI request failed: %s", exc)

    async def retry_deferred(self) -> None:
        """A tenant's deferred callbacks go again as soon as admission would let one out (a
        trunk freed, an agent became available, on any node), not ``defer_s`` later."""
        for tenant_id in sorted(self.deferred_tenants):
            if not await self.service.outcomes.has_deferred(tenant_id):
                self.deferred_tenants.discard(tenant_id)
            elif await self._admission.would_admit_outbound(tenant_id):
                self.deferred_tenants.discard(tenant_id)
                await self.service.outcomes.retry_deferred_now(tenant_id)

    # ---- placing an attempt --------------------------------------------------------------
    async def dial(self, callback_id: str) -> None:
        """Customer first: the scheduler claimed this callback (``dialing``); call now."""
        async with self.lock(callback_id):
            await self.place(callback_id)

    async def place(self, callback_id: str, agent_leg: AgentLeg | None = None) -> str | None:
        self.placing.add(callback_id)
        try:
            return await self._admit_save_originate(callback_id, agent_leg)
        finally:
            self.placing.discard(callback_id)

    async def _admit_save_originate(self, callback_id: str, agent_leg: AgentLeg | None) -> str | None:
        async with self.sessions() as s:
            cb = await repo.get(s, callback_id)
            if cb is None or cb.status != "dialing":
                return None
            settings = await repo.settings(s, cb.tenant_id)
            caller = await repo.caller_id(s, settings)
        attempt_id = ids.make(Kind.CALLBACK_LEG, cb.id, cb.tries + 1)
        try:
            decision = await self._admission.admit_outbound(cb.tenant_id, attempt_id)
        except Exception as exc:
            # Nothing placed nor saved: the same try a little later, as when admission says
            # "not now" (not "dialing" until the next ARI connect).
            log.warning("callback %s: trunk admission failed (%s); deferred", cb.id,
                        type(exc).__name__)
            await self.service.outcomes.deferred(cb.id, "admission-away")
            return None
        if not decision.admit:
            self.deferred_tenants.add(cb.tenant_id)
            await self.service.outcomes.deferred(cb.id, decision.reason)
            return None
        now = self.now()
        async with self.sessions() as s:
            row = await repo.get(s, cb.id, for_update=True)
            if row is None or row.status != "dialing":  # cancelled meanwhile
                await s.rollback()
                await self._admission.release(attempt_id)
                return None
            row.tries += 1
            s.add(CallbackAttempt(
                id=attempt_id, tenant_id=row.tenant_id, callback_id=row.id, n=row.tries,
                node=self.node, started_at=now,
                deadline=now + dt.timedelta(seconds=settings.ring_timeout_s + self._cfg.check_grace_s)))
            if agent_leg is None:
                contact = await contacts_repo.get(s, row.contact_id, for_update=True)
                if contact is not None:
                    await contacts_repo.apply(s, contact, Fact.DIALLED, at=now, not_before=None)
            await s.commit()  # saved before Asterisk is asked: never placed twice
        leg = Leg(attempt_id, cb.id, agent_leg=agent_leg)
        self.legs[attempt_id] = leg
        if agent_leg is not None:
            agent_leg.attempt_id = attempt_id
        endpoint = f"PJSIP/{self._cfg.trunk}/sip:{cb.phone.lstrip('+')}@{self._host}"
        log.info("callback %s: attempt %s calls %s", cb.id, attempt_id, cb.phone)
        try:
            await self.ari.originate(endpoint, channel_id=attempt_id, app_args=("callback", attempt_id),
                                     timeout=settings.ring_timeout_s, caller_id=caller,
                                     variables=ids.sip_header(endpoint, attempt_id))
        except AriConflict:
            log.warning("attempt %s is already in Asterisk: adopted", attempt_id)
        except AriError as exc:
            if isinstance(exc, AriTimeout) or (isinstance(exc, AriUnavailable) and exc.status_code is None):
                log.warning("attempt %s: no answer from ARI (%s); looking it up", attempt_id, exc)
                await self.check(attempt_id, answered_too=False)  # under the lock: its event will come
            else:
                log.warning("attempt %s refused by Asterisk: %s", attempt_id, exc)
                await self.ended(attempt_id, "failed")
        return attempt_id

    async def check(self, attempt_id: str, *, answered_too: bool = True) -> None:
        """Is an attempt we did not hear from still in Asterisk?  Never re-sent: if it is
        gone, it ends as ``unknown`` and the next attempt follows the backoff; if it was
        answered unseen (``answered_too``), it is handled as answered now."""
        try:
            channel = await self.ari.get_channel(attempt_id)
        except AriNotFound:
            log.info("attempt %s is not in Asterisk: closed as unknown", attempt_id)
            await self.ended(attempt_id, "unknown")
            return
        except AriError as exc:
            log.warning("attempt %s: cannot ask Asterisk (%s); checking again later", attempt_id, exc)
            await self._postpone_check(attempt_id)
            return
        if attempt_id not in self.legs:
            self.legs[attempt_id] = Leg(attempt_id, callback_of(attempt_id))
        if channel.state == "Up" and answered_too:
            await self.customer_answered(attempt_id)
        else:
            await self._postpone_check(attempt_id)

    async def _postpone_check(self, attempt_id: str) -> None:
        async with self.sessions() as s:
            att = await repo.attempt(s, attempt_id)
            if att is not None and att.result is None:
                att.deadline = self.now() + dt.timedelta(seconds=self._cfg.check_grace_s)
                await s.commit()

    async def ended(self, attempt_id: str, result: str, cause: int | None = None) -> None:
        """An attempt did not reach an agent: free its trunk, plan the next one (whose
        move's commands let the agent go, agent first)."""
        leg = self.legs.pop(attempt_id, None)
        if leg is not None:
            leg.cancel_timer()
        await self._admission.release(attempt_id)
        await self.service.outcomes.attempt_ended(attempt_id, result, cause)

    # ---- the lifecycle's commands on the calls (ccari.callbacks.executor.CallLegs) --------
    async def hang_up_agent(self, callback_id: str) -> None:
        """Withdraw: the agent's phone stops ringing (or her wait on hold ends)."""
        for al in [a for a in self.agent_first.legs.values() if a.callback_id == callback_id]:
            self.agent_first.legs.pop(al.channel_id, None)
            await self.safe(self.ari.hangup(al.channel_id, reason="normal"))

    async def end_attempts(self, callback_id: str) -> None:
        """Release: the callback's attempts still up end (trunk freed, hung up)."""
        for leg in [g for g in self.legs.values() if g.callback_id == callback_id]:
            leg.agent_leg = None
            await self.ended(leg.attempt_id, "cancelled")
            await self.safe(self.ari.hangup(leg.attempt_id, reason="normal"))

    # ---- ARI events (see stasis.py) ------------------------------------------------------
    async def customer_answered(self, attempt_id: str) -> None:
        callback_id = callback_of(attempt_id)
        async with self.lock(callback_id):
            now = self.now()
            async with self.sessions() as s:
                att = await repo.attempt(s, attempt_id)
                cb = await repo.get(s, callback_id, for_update=True)
                if att is not None and att.result == "answered" and cb is not None \
                        and cb.status in ("answered", "done"):
                    return  # the same answer seen twice (reconcile, then the event)
                if att is None or att.result is not None or cb is None or cb.status != "dialing":
                    log.info("attempt %s answered but no longer wanted: hung up", attempt_id)
                    await s.rollback()
                    await self.safe(self.ari.hangup(attempt_id, reason="normal"))
                    return
                att.result, att.answered_at = "answered", now
                cb.status, cb.last_result = "answered", "answered"
                await s.commit()
            leg = self.legs.setdefault(attempt_id, Leg(attempt_id, callback_id))
            log.info("callback %s: attempt %s answered", callback_id, attempt_id)
            if cb.mode == "agent_first":
                if leg.agent_leg is None:  # its agent leg belonged to a previous process
                    await self.ended(attempt_id, "agent-gone")
                    await self.safe(self.ari.hangup(attempt_id, reason="normal"))
                    return
                await self.agent_first.bridge(leg, leg.agent_leg)
            else:
                leg.phase = "prompt"
                await self.prompt(leg)

    def holds(self, channel_id: str) -> bool:
        """Is this channel the callbacks' now (an attempt, an agent leg, an IVR caller being
        told "we will call you back")?"""
        return channel_id in self.legs or channel_id in self._confirming \
            or channel_id in self.agent_first.legs

    async def prompt(self, leg: Leg) -> None:
        leg.plays += 1
        leg.playback = ids.make(Kind.CALLBACK_PROMPT, leg.attempt_id, leg.plays)
        await self.safe(self.ari.play(leg.attempt_id, self._sound(self._cfg.sound_offer),
                                      playback_id=leg.playback))

    async def playback_finished(self, playback_id: str) -> None:
        if ids.kind_of(playback_id) is Kind.CALLBACK_CONFIRM:
            await self.safe(self.ari.hangup(ids.rest_of(playback_id, Kind.CALLBACK_CONFIRM),
                                            reason="normal"))
            return
        attempt_id = ids.rest_of(playback_id, Kind.CALLBACK_PROMPT).rpartition("-")[0]
        leg = self.legs.get(attempt_id)
        if leg is not None and leg.phase == "prompt" and leg.playback == playback_id:
            leg.timer = self._tasks.spawn(self._confirm_timeout(leg, leg.plays), f"confirm-{attempt_id}")

    async def _confirm_timeout(self, leg: Leg, plays: int) -> None:
        await asyncio.sleep(self._cfg.confirm_timeout_s)
        async with self.lock(leg.callback_id):
            if leg.phase != "prompt" or leg.plays != plays:
                return
            if plays < self._cfg.prompt_plays:
                await self.prompt(leg)
                return
            leg.phase = "closing"
            log.info("callback %s: nobody pressed 1 on attempt %s", leg.callback_id, leg.attempt_id)
            await self.ended(leg.attempt_id, "not-confirmed")
            await self.safe(self.ari.hangup(leg.attempt_id, reason="normal"))

    async def dtmf(self, channel_id: str, digit: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is None or leg.phase != "prompt" or digit != "1":
            return
        async with self.lock(leg.callback_id):
            if leg.phase != "prompt":
                return
            leg.phase = "closing"
            leg.cancel_timer()
            if leg.playback:
                await self.safe(self.ari.stop_playback(leg.playback))
            await self._to_queue(leg)

    async def _to_queue(self, leg: Leg) -> None:
        """Customer first, "1" pressed: a queued voice contact at the callback's place."""
        now = self.now()
        async with self.sessions() as s:
            cb = await repo.get(s, leg.callback_id, for_update=True)
            contact = await contacts_repo.get(s, cb.contact_id, for_update=True) if cb else None
            if cb is None or contact is None or cb.status != "answered":
                return
            cb.status, cb.ended_at = "done", now
            await contacts_repo.apply(s, contact, Fact.ROUTED, at=now, medium="voice",
                                      channel_id=leg.attempt_id, queued_at=cb.place_at, not_before=None)
            await s.commit()
        self.legs.pop(leg.attempt_id, None)
        log.info("callback %s: customer pressed 1; contact %s queued at its place", cb.id, contact.id,
                 extra=logs.about(contact.id, contact.tenant_id))
        await self._voice.adopt_queued(contact)

    async def channel_gone(self, channel_id: str, cause: int | None) -> None:
        kind = ids.kind_of(channel_id)
        if kind is Kind.CALLBACK_LEG:
            await self._customer_gone(channel_id, cause)
        elif kind is Kind.CALLBACK_AGENT_LEG:
            await self.agent_first.gone(channel_id, cause)
        elif channel_id in self._confirming:
            callback_id = self._confirming.pop(channel_id)
            await self._admission.release(channel_id)
            await self.service.ivr_caller_left(callback_id)

    async def _customer_gone(self, attempt_id: str, cause: int | None) -> None:
        async with self.lock(callback_of(attempt_id)):
            async with self.sessions() as s:
                att = await repo.attempt(s, attempt_id)
            if att is None:
                return
            if att.result is None:
                await self.ended(attempt_id, schedule.result_for_cause(cause), cause)
            elif att.result == "answered":
                # At the prompt: hung up without pressing 1 (after the hand-over the voice
                # ACD owns the call and this changes nothing).
                await self.ended(attempt_id, "not-confirmed", cause)
            else:
                await self._admission.release(attempt_id)

    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """Deliverer of medium ``callback`` (agent first)."""
        await self.agent_first.deliver(contact, agent)

    # ---- IVR "call me back" (the voice ACD asks CallbackService, which asks here) --------
    async def take_from_ivr(self, channel_id: str, contact_id: str, attributes: dict[str, Any],
                            *, source: str = "ivr") -> bool:
        """True: the caller now has a callback and hears a confirmation, then is hung up;
        False: refused (e.g. a number the tenant does not call): the caller queues as usual."""
        try:
            cb = await self.service.from_ivr(contact_id, attributes, source=source)
        except CcariError as exc:
            log.info("contact %s: callback refused (%s): queued instead", contact_id, exc.error_id)
            await self.safe(self.ari.play(channel_id, self._sound(self._cfg.sound_refused)))
            return False
        log.info("contact %s left the IVR for callback %s", contact_id, cb.id)
        self._confirming[channel_id] = cb.id
        await self.safe(self.ari.play(channel_id, self._sound(self._cfg.sound_confirm),
                                      playback_id=ids.make(Kind.CALLBACK_CONFIRM, channel_id)))
        return True
