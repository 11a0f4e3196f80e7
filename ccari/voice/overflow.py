"""What a call refused by trunk admission gets (:class:`Overflow`), per its tenant's policy.

``busy`` (486 before answer) and ``announcement`` (early media, then 486) refuse the call
before answer.  The two other treatments answer it for a short while (the seconds are billed
as the call's trunk seconds, but the call never counts against the tenant's limit: it is
never queued for an agent):

* ``callback``: "all lines are busy; press 1 to be called back".  The menu is the IVR's pure
  state machine; pressing 1 takes the IVR's "call me back" path (``ccari.callbacks``: the
  caller keeps their place, the callback waits for a free trunk like any outbound call).
  Offered only when the tenant may call the caller's number back (allow-list, no callback
  already planned); otherwise the caller gets the announcement and busy.
* ``voicemail``: a prompt, a beep, then Asterisk records up to ``voicemail_max_s`` (ended by
  ``#``, silence or hang-up).  The stored recording is fetched, saved by ``ccari.voicemail``
  as a queued contact of medium ``voicemail`` together with its audio, and only then
  deleted from Asterisk (save, then acknowledge); a restart in between finds it again by
  its name, ``vm-<contact id>`` (:meth:`Recorder.resume`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import wave
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError, AriNotFound
from ccari.ari.ids import Kind
from ccari.ari.rest import HangupReason
from ccari.config import VoiceConfig
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import safe
from ccari.voice.ivr import CALLBACK, Menu
from ccari.voice.ports import Admission, IvrCallbacks, VoicemailPort

log = logging.getLogger(__name__)
ANSWERING = ("callback", "voicemail")  # the treatments that answer the call
OVERFLOW_CONTEXT = "ccari-overflow"  # dialplan: announcement (then busy), saved (then hang-up)


def recording_name(contact_id: str) -> str:
    return ids.make(Kind.VOICEMAIL, contact_id)


def contact_of_recording(name: str) -> str | None:
    return ids.rest_of(name, Kind.VOICEMAIL) or None


def wav_seconds(audio: bytes) -> float:
    """The length of a WAV recording (0.0 if it is not one)."""
    try:
        with wave.open(io.BytesIO(audio)) as w:
            frames, rate = int(w.getnframes()), int(w.getframerate() or 1)
        return frames / rate
    except (wave.Error, EOFError):
        return 0.0


class Recorder:
    """The voicemail treatment on one call: prompt, record, keep, then "saved" and hang-up."""

    def __init__(self, ari: AriClient, calls: CallRegistry, config: VoiceConfig,
                 sound: Callable[[str], str], port: VoicemailPort | None,
                 release: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._ari = ari
        self._release = release  # frees an admitted call's trunk (an after-hours voicemail)
        self._calls = calls
        self._cfg = config
        self._sound = sound
        self._port = port  # ccari.voicemail keeps the messages; None: no voicemail treatment

    @property
    def available(self) -> bool:
        """Can a message be kept (the voicemail context is there)?"""
        return self._port is not None

    async def start(self, call: Call) -> None:
        """The call is answered: the prompt, then (:meth:`prompt_finished`) the recording."""
        call.playback_id = ids.make(Kind.VOICEMAIL_PROMPT, call.contact_id, 1)
        try:
            prompt = ((call.closed_prompt or "closed-voicemail") if call.after_hours
                      else "overflow-voicemail")
            await self._ari.play(call.channel_id, self._sound(prompt),
                                 playback_id=call.playback_id)
        except AriError as exc:
            log.info("contact %s: voicemail prompt failed (%s): recording at once", call.contact_id, exc)
            await self.prompt_finished(call)

    async def prompt_finished(self, call: Call) -> None:
        if call.phase != "ivr":
            return
        call.playback_id = None
        try:
            await self._ari.record(
                call.channel_id, recording_name(call.contact_id), format="wav",
                max_duration_s=self._cfg.voicemail_max_s,
                max_silence_s=self._cfg.voicemail_max_silence_s, beep=True, terminate_on="#",
                if_exists="overwrite")
        except AriError as exc:  # the caller hung up during the prompt: abandoned as usual
            log.info("contact %s: recording did not start: %s", call.contact_id, exc)
            return
        call.phase = "recording"
        log.info("contact %s: recording a voicemail", call.contact_id)

    async def finished(self, call: Call) -> None:
        """Asterisk closed the recording (``#``, silence, maximum length, hang-up): keep it,
        then delete it from Asterisk; the caller (if still there) hears "saved" (or, if
        nothing was kept, is hung up)."""
        call.phase = "ended"
        self._calls.remove(call)
        name = recording_name(call.contact_id)
        audio: bytes | None
        try:
            audio = await self._ari.stored_recording_file(name)
        except AriNotFound:
            audio = None
        except AriError:
            # Asterisk is unreachable: the recording stays there for the reconcile.
            log.warning("contact %s: voicemail %s could not be fetched", call.contact_id, name)
            return
        assert self._port is not None
        kept = await self._port.keep(call.contact_id, audio, wav_seconds(audio or b""))
        log.info("contact %s: voicemail %s", call.contact_id, f"kept as {kept}" if kept else "empty")
        if audio is not None:
            await safe(self._ari.delete_stored_recording(name))
        if self._release is not None and call.after_hours:  # it leaves ccari: its trunk too
            await self._release(call.channel_id)
        if kept:
            await safe(self._ari.continue_in_dialplan(call.channel_id, OVERFLOW_CONTEXT, "saved", 1))
        else:  # nothing worth keeping: no "saved" for a message that was not
            await safe(self._ari.hangup(call.channel_id, reason="normal"))

    async def resume(self, call: Call) -> bool:
        """After a restart: True if this call's voicemail is recording (its end will come as
        an event) or was recorded (kept now); False if nothing was recorded."""
        name = recording_name(call.contact_id)
        try:
            live = await self._ari.live_recording(name)
        except AriNotFound:
            live = None
        if live is not None and live.state in ("queued", "recording", "paused"):
            call.phase = "recording"
            return True
        try:
            await self._ari.stored_recording_file(name)
        except AriNotFound:
            return False
        await self.finished(call)  # it ended while we were away
        return True


class Overflow:
    """What a call refused by trunk admission gets, per its tenant's overflow policy."""

    def __init__(self, ari: AriClient, sessions: async_sessionmaker[AsyncSession],
                 calls: CallRegistry, config: VoiceConfig, sound: Callable[[str], str],
                 now: Callable[[], dt.datetime], *, voicemail: VoicemailPort | None = None,
                 release: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._ari = ari
        self._sessions = sessions
        self._calls = calls
        self._cfg = config
        self._sound = sound
        self._now = now
        self.recorder = Recorder(ari, calls, config, sound, voicemail, release)

    async def choose(self, tenant_id: int, decision: Admission, caller: str | None,
                     callbacks: IvrCallbacks | None) -> str | None:
        """The treatment that answers the call (``callback``, ``voicemail``) if the policy
        asks for one and it can be given now; None: :meth:`refuse` before answer."""
        if decision.action not in ANSWERING:
            return None
        if decision.action == "voicemail":
            return "voicemail" if self.recorder.available else None
        if callbacks is None or not caller:
            return None
        return "callback" if await callbacks.can_call_back(tenant_id, caller) else None

    async def refuse(self, channel_id: str, decision: Admission) -> None:
        """Before answer: busy (SIP 486), or an announcement as early media then busy (any
        other policy, also when its voicemail or callback offer can't be given)."""
        await self._turn_away(channel_id, announce=decision.action != "busy", reason="busy")

    async def refuse_overloaded(self, channel_id: str, policy: str) -> None:
        """This node is overloaded: at once, no answer, nothing written: the tenant's
        announcement (early media, then 486) if it has one, else SIP 503."""
        await self._turn_away(channel_id, announce=policy != "busy", reason="congestion")

    async def _turn_away(self, channel_id: str, *, announce: bool, reason: HangupReason) -> None:
        if announce:
            try:
                await self._ari.continue_in_dialplan(channel_id, OVERFLOW_CONTEXT, "announcement", 1)
                return
            except AriError as exc:
                log.warning("announcement for %s failed: %s", channel_id, exc)
        await safe(self._ari.hangup(channel_id, reason=reason))

    def offer_menu(self) -> Menu:
        """The callback offer: 1 is "call me back"; nothing else is offered (no queue)."""
        return Menu(self._sound("overflow-callback-offer"), self._sound("invalid-option"),
                    self._cfg.ivr_timeout_s, self._cfg.ivr_max_tries,
                    {"1": {}}, actions={"1": CALLBACK})

    async def end(self, call: Call, disposition: str) -> None:
        """The callback offer ended without a callback: "lines busy, call later", then busy."""
        call.cancel_timers()
        now = self._now()
        async with self._sessions() as s:
            contact = await repo.get(s, call.contact_id)
            if contact is not None and contact.state == "ivr":
                await repo.apply(s, contact, Fact.SELF_SERVED, at=now, ended_at=now,
                                      disposition=disposition)
                await s.commit()
        call.phase = "ended"
        self._calls.remove(call)
        await safe(self._ari.continue_in_dialplan(call.channel_id, OVERFLOW_CONTEXT, "announcement", 1))

    async def recording_ended(self, name: str) -> None:
        """Asterisk closed a recording (finished or failed): a voicemail to keep."""
        contact_id = contact_of_recording(name)
        call = self._calls.by_contact(contact_id) if contact_id else None
        if call is None:
            return
        async with call.lock:
            if call.phase == "recording":
                await self.recorder.finished(call)
