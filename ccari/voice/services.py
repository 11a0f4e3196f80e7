"""The voice ACD: inbound call -> IVR -> queue (MOH + announcements) -> agent phone -> bridge.

``VoiceService`` executes decisions; it does not make them: the IVR (``ivr.py``) and the
router (``ccari.routing``) do.  Every state change is saved before Asterisk is told.
Call flow per contact, guarded by the call's lock:

    StasisStart(inbound) -> contact "ivr" -> answer -> IVR commands
    IVR Finish            -> contact "queued" -> MOH + announcements -> QueueService.enqueue
    offer                 -> contact "offered" -> originate PJSIP/<phone> (stable channel id)
    StasisStart(agent)    -> contact "connected" -> mixing bridge (caller + agent)
    either side hangs up  -> contact "completed" (wait, talk, disposition) -> agent wrap-up

The steps live in their own modules, this service holds them together and keeps each call's
lock: ``arrivals.py`` (a carrier's call, up to its answer), ``treatment.py`` (the overflow
treatment, the IVR, into the queue), ``hold.py`` (waiting), ``offers.py`` (ringing the
agent, bridging), ``endings.py`` (hang-ups and every other end).  Over the tenant's trunk
limit, ``overflow.py`` decides what the caller gets instead; outside its number's business
hours, ``afterhours.py`` (the after-hours route); past what the node can carry,
``overload.py`` (and Asterisk's dialplan, ``shedding.py``) turns new calls away; the calls
ccari.callbacks places join here through ``handover.py``.  What other contexts offer
it (the IVR's "call me back", keeping a voicemail) comes as ports (``ports.py``) in its
constructor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import Pages
from ccari.ari import AriClient, ids
from ccari.ari.errors import AriDisconnected, AriError
from ccari.ari.ids import Kind
from ccari.ari.rest import HangupReason
from ccari.config import VoiceConfig
from ccari.contacts import repo as contacts_repo
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.provisioning.schemas import TENANT_PROMPT
from ccari.storage.batch import GroupCommit
from ccari.storage.db import DATABASE_DOWN
from ccari.storage.models import Agent, Contact
from ccari.tasks import TaskSet
from ccari.tenants.directory import NumberDirectory
from ccari.voice import ivr as ivr_mod
from ccari.voice.afterhours import CLOSED, Announcement
from ccari.voice.arrivals import Arrivals
from ccari.voice.calls import Call, CallRegistry, QueueSettings
from ccari.voice.deadcalls import DeadCalls
from ccari.voice.endings import Endings
from ccari.voice.handover import Handover
from ccari.voice.hold import Hold, safe
from ccari.voice.offers import Offers
from ccari.voice.overflow import Overflow
from ccari.voice.overload import Gate, Limits, LoadMonitor
from ccari.voice.ports import (
    AdmissionPort,
    AdmitAll,
    IvrCallbacks,
    LegPlanner,
    PlanNothing,
    SpeechPort,
    VoicemailPort,
)
from ccari.voice.replay import PageView
from ccari.voice.shedding import DialplanShed
from ccari.voice.treatment import Treatment
from ccari.voice.webcalls import WebArrivals

log = logging.getLogger(__name__)


class VoiceService:
    def __init__(
        self,
        ari: AriClient,
        sessions: async_sessionmaker[AsyncSession],
        queue: QueueService,
        hub: Pages,
        config: VoiceConfig,
        *,
        node: str,
        clock: Callable[[], float] = time.time,
        admission: AdmissionPort | None = None,
        writes: GroupCommit | None = None,
        callbacks: IvrCallbacks | None = None,
        voicemail: VoicemailPort | None = None,
        speech: SpeechPort | None = None,
        legs: LegPlanner | None = None,
        prompts: str = "ccari-tenants/",
    ) -> None:
        """``callbacks``: the IVR's "call me back" (ccari.callbacks), ``voicemail``: keeps
        the messages of the voicemail overflow treatment (ccari.voicemail), ``speech``:
        spoken answers in the IVR (ccari.speech); each None turns its option off.
        ``legs``: the agent legs' media node, codec and bandwidth (ccari.sites; None:
        every leg as the phone likes it, nothing counted)."""
        self._ari = ari
        self._sessions = sessions
        # Every state change of a call is saved before Asterisk is told, in shared commits.
        self._writes = writes or GroupCommit(sessions, name="voice")
        self._admission: AdmissionPort = admission or AdmitAll(self._writes.run)
        self._queue = queue
        self._hub = hub
        self._cfg = config
        self._prompts = prompts  # Asterisk's sound prefix of the tenants' own prompts
        self._callbacks = callbacks
        self._node = node
        self._clock = clock
        self.calls = CallRegistry()
        # Contacts whose arrival a database outage cut short (arrivals.py): routed afresh
        # when the reconcile after it takes them up.
        self._cut_short: set[str] = set()
        self._tasks = TaskSet("voice")
        self.hold = Hold(ari, queue, config, self._tasks, self._sound)
        self.directory = NumberDirectory(sessions, QueueSettings.of(None, config))
        # Trunk limit reached: busy, announcement, callback offer or voicemail.
        self.overflow = Overflow(ari, sessions, self.calls, config, self._sound, self.now,
                                 voicemail=voicemail, release=self._admission.release)
        # Outside business hours: "we are closed", then hang-up.
        self.closed = Announcement(ari, self._writes, self._sound, self.now)
        # The answered call's first steps (overflow treatment, IVR), then the queue.
        self._treatment = Treatment(ari, self.calls, queue, self.hold, self.overflow,
                                    self._writes, self._tasks, self._sound, self.now,
                                    callbacks=callbacks, speech=speech)
        # A queued call rung on an agent's phone, then bridged.
        self.legs: LegPlanner = legs or PlanNothing()
        self._offers = Offers(ari, sessions, self.calls, queue, hub, self.hold, self._writes,
                              self.now, legs=self.legs)
        self.on_connected = self._offers.on_connected  # told each call once it is bridged
        # What ccari.callbacks hands over once its customer is on the line.
        self.handover = Handover(self)
        # Calls from a customer's web page (ccari.talk): no IVR, no trunk.
        self.web = WebArrivals(self, hub)
        # Past what this node can carry, new calls are refused at the door (the dialplan's).
        high = config.overload_delay_ms
        self.load = LoadMonitor(Gate(Limits(high_ms=high or float("inf"), low_ms=0.4 * high,
                                            max_rate=config.max_calls_per_s)),
                                self._writes.delay_ms,
                                shed=DialplanShed(ari, sessions, self._admission).shed)
        # Why a dead call ended (RTP timeout, session timer), once its channel is destroyed.
        self.dead_calls = DeadCalls(sessions, self.now)
        # Told a contact id when its call's agent part is over (the call ended, or went
        # back to the queue): what hangs on the agent's leg (a supervisor's) ends too.
        self.agent_part_over: list[Callable[[str], Awaitable[None]]] = []
        # Asked, the call's lock held, when a connected call's agent leg hangs up: True if
        # the call goes on without her (a conference), else the call ends.
        self.agent_leaving: list[Callable[[Call], Awaitable[bool]]] = []
        # Told, the call's lock held, once its agent has left a call that goes on (her
        # conference, left to the others): what hung on her leg (a supervisor's snoop).
        self.agent_left: list[Callable[[Call], Awaitable[None]]] = []
        # Told, the call's lock held, once a caller's call is answered (before its first
        # step): what listens on the line from the start (fax tones, ccari.fax).
        self.answered: list[Callable[[Call], Awaitable[None]]] = []
        # What a context adds about a live call to its agent's reopened page (replay.py).
        self.page_views: list[PageView] = []
        # Asked when a channel leaves Stasis: why, if Asterisk sent it elsewhere by itself
        # (a disposition, e.g. ``fax-detected``); None from all: it hung up.
        self.leaving: list[Callable[[str], Awaitable[str | None]]] = []
        self._endings = Endings(ari, self.calls, self._writes, queue, hub, self._admission,
                                self.now, offer_failed=self.offer_failed,
                                left_agent=self.left_agent, agent_leaving=self.agent_leaving,
                                leaving=self.leaving)
        # A carrier's call: its number, the gates, the after-hours route, then its first step.
        self._arrivals = Arrivals(ari, self.calls, self.directory, self.load, self._admission,
                                  self.overflow, self.closed, self._writes, self.now, node=node,
                                  callbacks=callbacks, answer=self._answer,
                                  answered=self.answered, treat=self.treat,
                                  cut_short=self._forget_cut_short)

    def now(self) -> dt.datetime:
        return utc(self._clock())

    async def log_event(self, contact_id: str, tenant_id: int, kind: str, **data: Any) -> None:
        """An event of the contact's history that moves nothing (a control, a leg joining or
        leaving: saved before Asterisk is told)."""
        async with self.sessions() as s:
            contact = await contacts_repo.get(s, contact_id, tenant_id)
            if contact is not None:
                await contacts_repo.log(s, contact, kind, self.now(), **data)
                await s.commit()

    # What the voice ACD's helpers (reconcile, hand-overs) use of it.
    @property
    def ari(self) -> AriClient:
        return self._ari

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    @property
    def writes(self) -> GroupCommit:
        return self._writes

    @property
    def config(self) -> VoiceConfig:
        return self._cfg

    @property
    def admission(self) -> AdmissionPort:
        return self._admission

    @property
    def queue(self) -> QueueService:
        return self._queue

    @property
    def node(self) -> str:
        return self._node

    async def close(self) -> None:
        await self.load.close()
        for call in self.calls.all():
            call.cancel_timers()
        await self._tasks.close()

    def _sound(self, name: str) -> str:
        if name.startswith(TENANT_PROMPT):  # a tenant's own: tenant:<tenant id>/<name>
            return f"sound:{self._prompts}{name[len(TENANT_PROMPT):]}"
        return name if ":" in name else f"sound:{self._cfg.sound_prefix}{name}"

    # ---- arrival (arrivals.py) -------------------------------------------------------------
    async def inbound(self, channel_id: str, did: str, caller: str | None, name: str | None) -> None:
        """A carrier's call reached our Stasis app."""
        await self._arrivals.inbound(channel_id, did, caller, name)

    async def answer_and_treat(self, call: Call, menu: ivr_mod.Menu | None) -> None:
        """Answer the caller, then its first step (the caller holds the call's lock)."""
        if await self._answer(call):
            await self.treat(call, menu)

    async def answer_and_enqueue(self, call: Call, attributes: dict[str, object]) -> None:
        """Answer a caller who skips the IVR (a web call), then queue it with ``attributes``."""
        if await self._answer(call):
            await self._treatment.enqueue(call, attributes)

    async def _answer(self, call: Call) -> bool:
        try:
            await self._ari.answer(call.channel_id)
            return True
        except AriDisconnected as exc:
            # ccari's own link went (a restart, a cut), not the caller: the call is forgotten
            # here, and the reconcile after the reconnect (or the next process's) finds its
            # contact in the IVR with no call in memory, and answers and treats the caller.
            log.info("contact %s: answer left to the reconcile: %s", call.contact_id, exc)
            call.cancel_timers()
            self.calls.remove(call)
            return False
        except AriError as exc:
            # Gone already (404/409), or Asterisk could not answer it (a caller who gave
            # up under load): the hangup event completes the contact.
            log.info("contact %s: answer failed: %s", call.contact_id, exc)
            await self._hangup(call.channel_id, "normal")
            return False

    def background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a task of the voice service (cancelled when it closes)."""
        self._tasks.spawn(coro, name)

    def take_late(self, channel_id: str, did: str, caller: str | None, name: str | None) -> None:
        """A call that reached our app while we were away: taken like any new call."""
        self._tasks.spawn(self.inbound(channel_id, did, caller, name), f"late-{channel_id}")

    async def stop_previous_prompts(self, call: Call) -> None:
        """The IVR prompts a previous process may have left playing on the caller (their
        ids are the contact's and a generation: the first few are asked to stop)."""
        await asyncio.gather(*(safe(self._ari.stop_playback(
            ids.make(Kind.IVR_PROMPT, call.contact_id, gen))) for gen in range(1, 13)))

    async def treat(self, call: Call, menu: ivr_mod.Menu | None) -> None:
        """The answered call's first step: its overflow treatment, else the IVR or the queue."""
        await self._treatment.start(call, menu)

    def _forget_cut_short(self, call: Call) -> None:
        """A database outage cut the call's step short: forgotten here, so that the reconcile
        after the outage takes it up from its stored state as after a restart (kept, it would
        wait in silence for a step that never comes)."""
        call.cancel_timers()
        self.calls.remove(call)
        self._cut_short.add(call.contact_id)

    async def dtmf(self, channel_id: str, digit: str) -> None:
        call = self.calls.by_channel(channel_id)
        if call is None or channel_id != call.channel_id:
            return
        async with call.lock:
            try:
                await self._treatment.digit(call, digit)
            except DATABASE_DOWN:  # the IVR's choice or its queueing not saved
                self._forget_cut_short(call)
                raise

    async def playback_finished(self, playback_id: str) -> None:
        kind = ids.kind_of(playback_id)
        contact_id, _, gen = ids.rest_of(playback_id, kind).partition("-") if kind else ("", "", "")
        call = self.calls.by_contact(contact_id)
        if call is None:
            return
        async with call.lock:
            if call.phase == CLOSED:
                await self.closed.finished(call)
            elif kind is Kind.IVR_PROMPT:
                await self._treatment.prompt_finished(call, int(gen))
            elif kind is Kind.ANNOUNCEMENT:
                await self.hold.announcement_finished(call, playback_id)
            elif kind is Kind.VOICEMAIL_PROMPT:
                await self.overflow.recorder.prompt_finished(call)

    # ---- queue -----------------------------------------------------------------------------
    async def queue_adopted(self, call: Call, contact: Contact) -> None:
        """A call another context placed (a customer called back who pressed 1), saved as
        queued: it waits like a caller from the IVR."""
        self.calls.add(call)
        async with call.lock:
            await self._queue.enqueue(contact)
            if call.phase == "queued":
                self.hold.start(call)

    # ---- offer (offers.py) -----------------------------------------------------------------
    async def deliver(self, contact: Contact, agent: Agent) -> None:
        """Deliverer for voice: ring the agent's phone with a stable channel id."""
        await self._offers.deliver(contact, agent)

    async def recall(self, contact: Contact, agent: Agent) -> None:
        """She logs out while her phone rings with ``contact``: the ring ends, not her miss."""
        await self._offers.recall(contact, agent)

    async def offer_failed(self, call: Call) -> None:
        """Agent did not answer (or could not be rung): back in front, agent not ready."""
        await self._offers.offer_failed(call)

    async def route_cut_short(self, contact: Contact) -> None:
        """A call forgotten when a database outage cut its arrival short, back in the queue
        by the reconcile: routed afresh.  What the router held for it is dropped first (it
        may have offered it to an agent, an offer never saved nor rung).  Other calls the
        reconcile finds queued are the router's already (or the one rebuilt from the
        database's)."""
        if contact.id in self._cut_short:
            self._cut_short.discard(contact.id)
            await self._queue.route_afresh(contact)

    async def route_requeued(self, contact: Contact) -> None:
        """An offer a previous process made, queued again by the reconcile: routed afresh
        (with several nodes, the leader's router still holds that offer: its agent would
        stay reserved by a call nobody rings)."""
        self._cut_short.discard(contact.id)
        await self._queue.route_afresh(contact)

    async def requeue(self, call: Call) -> None:
        """Before the queue is rebuilt: an offer from a previous process goes back to queued."""
        await self._offers.requeue(call)

    def leg_ringing(self, agent_channel: str) -> None:
        self._offers.ringing(agent_channel)

    async def agent_answered(self, agent_channel: str, contact_id: str) -> None:
        await self._offers.agent_answered(agent_channel, contact_id)

    async def connect(self, call: Call) -> None:
        """Bridge the caller and the agent who answered (the caller holds the call's lock)."""
        await self._offers.connect(call)

    # ---- ends (endings.py) -----------------------------------------------------------------
    async def channel_gone(self, channel_id: str, cause: int | None = None) -> None:
        """One of a call's legs hung up (``cause``: Asterisk's hang-up cause)."""
        await self._endings.channel_gone(channel_id, cause)

    async def left_for(self, channel_id: str) -> str | None:
        """Why a channel left Stasis alive (see :attr:`leaving`); None: it hung up."""
        return await self._endings.left_for(channel_id)

    async def diverted(self, channel_id: str, disposition: str) -> None:
        """The caller's channel left for the dialplan by itself (Asterisk found fax tones on
        it): the voice contact ends with ``disposition``."""
        await self._endings.diverted(channel_id, disposition)

    async def node_lost(self, channel_id: str) -> None:
        """The Asterisk carrying the caller's channel died under the call (the reconcile
        found it started since the call came): the contact ends as lost with its media
        node, and a caller who was waiting for an agent is called back when the tenant
        allows it."""
        call = self.calls.by_channel(channel_id)
        if call is None:
            return
        if await self._endings.node_lost(channel_id) and self._callbacks is not None:
            await self._callbacks.after_lost_call(call.contact_id)

    async def finish(self, call: Call, disposition: str, gone: str | None = None) -> None:
        """End a connected call; ``gone`` is the leg that already hung up (not asked again)."""
        await self._endings.finish(call, disposition, gone)

    async def agent_lost(self, agent_id: int, disposition: str) -> list[str]:
        """The agent's phone went away mid-call: her legs hang up, her calls end as her
        hang-up ends them, with ``disposition``.  The contacts."""
        return await self._endings.agent_lost(agent_id, disposition)

    # ---- helpers ---------------------------------------------------------------------------
    async def left_agent(self, contact_id: str) -> None:
        """The call's agent part is over: tell whoever listens (one failing is logged)."""
        for listener in self.agent_part_over:
            try:
                await listener(contact_id)
            except Exception:
                log.exception("contact %s: a listener of the agent's leaving failed", contact_id)

    async def hangup(self, channel_id: str) -> None:
        await self._hangup(channel_id, "normal")

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._safe(self._ari.destroy_bridge(bridge_id))

    async def _hangup(self, channel_id: str, reason: HangupReason) -> None:
        await self._safe(self._ari.hangup(channel_id, reason=reason))

    async def _safe(self, aw: Awaitable[Any]) -> None:
        await safe(aw)
