"""Fax machines that call a voice number: Asterisk listens for their calling tone, ccari
routes what it finds.

Where the tenant's fax policy says so (``detect_on_voice``, off by default), each answered
voice call gets ``FAXOPT(faxdetect)=yes,<fax.detect_s>``: for that long after the answer,
while the caller hears the number's usual greeting or IVR, res_fax listens for CNG (1100 Hz,
0.5 s on, 3 s off) and watches for a T.38 re-INVITE (a sender that asks for T.38 before or
instead of its tones; the request is accepted and the fax is received over T.38).  Either
sends the channel out of Stasis to the ``fax`` extension of ``from-carrier``, which brings
it back as ``(fax-detected, <did>, <tenant id>)`` (the tenant is the channel variable set
here, so the extension cannot be reached from outside).  The voice side sees its caller
leave Stasis alive with FAXEXTEN set (:meth:`FaxDetection.left`): the voice contact ends as
``fax-detected`` (completed from the IVR, never queued for a voice agent, or taken out of
the queue), and the fax path receives the call like one to the fax number.  No audio is
analysed in Python.  After a restart of ccari (an ARI connect), the callers a previous
process listened to and whose window is still open are listened to again: Asterisk keeps
both the detector and the tenant variable on their channels.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from ccari.ari import AriClient
from ccari.ari.errors import AriError
from ccari.fax.services import FaxService
from ccari.voice.calls import Call

log = logging.getLogger(__name__)
TENANT_VAR = "CCARI_FAX_TENANT"
DISPOSITION = "fax-detected"  # how the voice contact of a fax found by its tones ends
RECONCILE_SLACK_S = 10.0  # from a channel's creation to its answer, at most


class FaxDetection:
    def __init__(self, ari: AriClient, faxes: FaxService, listen_s: float, *,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._ari = ari
        self._faxes = faxes
        self._listen_s = listen_s
        self._now = now
        self._armed: set[str] = set()  # callers listened to, until they leave Stasis

    async def reconcile(self) -> None:
        """After an ARI connect: the callers still in their window that a previous process
        armed (the tenant variable on the channel says so) are listened to again.  Only
        channels younger than the window (and its answer's few seconds) are asked."""
        since = self._now() - dt.timedelta(seconds=self._listen_s + RECONCILE_SLACK_S)
        for channel in await self._ari.list_channels():
            if channel.creationtime is None or channel.creationtime < since \
                    or channel.id in self._armed:
                continue
            try:
                armed = await self._ari.get_var(channel.id, TENANT_VAR)
            except AriError:  # gone meanwhile
                continue
            if armed:
                self._armed.add(channel.id)
                log.info("reconcile: channel %s: listening for fax tones again", channel.id)

    async def left(self, channel_id: str) -> str | None:
        """``fax-detected`` when a listened-to caller left Stasis because Asterisk found fax
        tones (the detection sets FAXEXTEN as it sends the channel to ``fax``).  The event's
        channel snapshot still shows the number, so Asterisk is asked."""
        if channel_id not in self._armed:
            return None
        self._armed.discard(channel_id)
        try:
            found = await self._ari.get_var(channel_id, "FAXEXTEN")
        except AriError:  # hung up: gone
            return None
        return DISPOSITION if found else None

    async def arm(self, call: Call) -> None:
        """Listen for fax tones (and T.38 requests) on an answered voice call, if its tenant
        wants it."""
        if not await self._faxes.detects_on_voice(call.tenant_id):
            return
        try:
            self._armed.add(call.channel_id)
            await self._ari.set_var(call.channel_id, TENANT_VAR, str(call.tenant_id))
            await self._ari.set_var(call.channel_id, "FAXOPT(faxdetect)",
                                    f"yes,{max(1, round(self._listen_s))}")
        except AriError as exc:  # gone already: its hang-up ends the contact
            self._armed.discard(call.channel_id)
            log.info("contact %s: no fax detection on %s: %s", call.contact_id,
                     call.channel_id, exc)
            return
        log.debug("contact %s: listening for fax tones for %s s", call.contact_id,
                  self._listen_s)
