"""Agent phones' reachability, as Asterisk sees it (qualify / registration), fed to the queue.

Asterisk sends SIP OPTIONS to each agent phone every ``pbx.agent_qualify_s`` (qualify) and
marks the PJSIP endpoint ``offline`` when no contact answers (or none is registered).
:class:`PhoneWatch` reads ``GET /ari/endpoints/PJSIP`` on every ARI (re)connect and then
every ``interval_s`` (:func:`poll_interval`), and tells the queue which phones are
unreachable; the queue offers their agents no calls (``QueueService.set_unreachable_phones``).

Why a poll and not ``EndpointStateChange`` events: subscribing the app to
``endpoint:PJSIP`` (measured on Asterisk 22.10.1) also forwards the channel events of those
endpoints' channels, so a caller's ``ChannelDtmfReceived`` arrives twice and the IVR would
see every digit twice.  A GET every few seconds costs little next to that risk, needs no
subscription to restore after a reconnect, and is its own reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from ccari.ari.errors import AriError
from ccari.ari.models import Endpoint
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)

#: ARI endpoint state of a phone no contact of which is reachable.
OFFLINE = "offline"


def unreachable_phones(endpoints: Iterable[Endpoint]) -> frozenset[str]:
    """The PJSIP endpoints Asterisk reports ``offline``.  ``online`` and ``unknown`` (not
    qualified yet, or qualify off) count as reachable, and so does a phone Asterisk does not
    list (its agent was added before the last ``pbx-sync``): only a known failure blocks."""
    return frozenset(e.resource for e in endpoints
                     if e.technology.upper() == "PJSIP" and e.state == OFFLINE)


def poll_interval(qualify_s: int) -> float:
    """How often to read the phones' state: a third of the qualify period Asterisk checks
    them at, between 2 and 10 s (10 s when qualify is off).  Reading 1000 endpoints costs
    Asterisk and ccari a few milliseconds each time; more often than Asterisk learns
    anything new is waste."""
    return 10.0 if qualify_s <= 0 else min(10.0, max(2.0, qualify_s / 3))


class EndpointSource(Protocol):
    async def list_endpoints(self, technology: str = "PJSIP") -> list[Endpoint]: ...


class PhoneSink(Protocol):
    async def set_unreachable_phones(self, usernames: frozenset[str]) -> None: ...


class PhoneWatch:
    def __init__(self, ari: EndpointSource, queue: PhoneSink, *, interval_s: float = 2.0) -> None:
        self._ari = ari
        self._queue = queue
        self._interval_s = interval_s
        self._tasks = TaskSet("phones")
        self._poller: asyncio.Task[None] | None = None
        self._failing = False

    async def reconcile(self) -> None:
        """Read the phones' state now (an ARI ``on_connected`` hook); start polling."""
        await self.poll_once()
        if self._poller is None or self._poller.done():
            self._poller = self._tasks.spawn(self._poll(), "poll")

    async def poll_once(self) -> None:
        try:
            endpoints = await self._ari.list_endpoints("PJSIP")  # the client's request timeout
        except AriError as exc:  # keep what we knew; the next poll tries again
            if not self._failing:
                log.warning("agent phones: cannot read PJSIP endpoints: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("agent phones: PJSIP endpoints readable again")
        self._failing = False
        await self._queue.set_unreachable_phones(unreachable_phones(endpoints))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.poll_once()

    async def close(self) -> None:
        await self._tasks.close()
