"""Overflow treatments that answer a call refused by trunk admission.

A tenant's overflow policy says what a caller over its limit gets: ``busy`` (486 before
answer), ``announcement`` (early media, then 486: ``VoiceService._refuse``), or one of the two
treatments here, which answer the call for a short while (the seconds are billed as the
call's trunk seconds, but the call never counts against the tenant's limit: it is never
queued for an agent):

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

import io
import logging
import wave
from collections.abc import Callable

from ccari.ari import AriClient
from ccari.ari.errors import AriError, AriNotFound
from ccari.config import VoiceConfig
from ccari.voice.calls import Call, CallRegistry
from ccari.voice.hold import safe
from ccari.voice.ivr import Menu
from ccari.voice.ports import VoicemailPort

log = logging.getLogger(__name__)
ANSWERING = ("callback", "voicemail")  # the treatments that answer the call
OVERFLOW_CONTEXT = "ccari-overflow"  # dialplan: announcement (then busy), saved (then hang-up)


def offer_menu(cfg: VoiceConfig, sound: Callable[[str], str]) -> Menu:
    """The callback offer: 1 is "call me back"; nothing else is offered (no queue)."""
    return Menu(sound("overflow-callback-offer"), sound("invalid-option"), cfg.ivr_timeout_s,
                cfg.ivr_max_tries, {"1": {"_action": "callback", "_source": "overflow"}})


def recording_name(contact_id: str) -> str:
    return f"vm-{contact_id}"


def contact_of_recording(name: str) -> str | None:
    return name[3:] if name.startswith("vm-") else None


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
                 sound: Callable[[str], str]) -> None:
        self._ari = ari
        self._calls = calls
        self._cfg = config
        self._sound = sound
        self.port: VoicemailPort | None = None  # set by ccari.voicemail when it attaches

    async def start(self, call: Call) -> None:
        """The call is answered: the prompt, then (:meth:`prompt_finished`) the recording."""
        call.playback_id = f"vmp-{call.contact_id}-1"
        try:
            await self._ari.play(call.channel_id, self._sound("overflow-voicemail"),
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
        assert self.port is not None
        kept = await self.port.keep(call.contact_id, audio, wav_seconds(audio or b""))
        log.info("contact %s: voicemail %s", call.contact_id, f"kept as {kept}" if kept else "empty")
        if audio is not None:
            await safe(self._ari.delete_stored_recording(name))
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
