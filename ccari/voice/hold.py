"""While a caller waits in the queue: announcements of position and predicted wait, with
music on hold between them.  One task per waiting call; the voice service starts it when a
call is queued and calls :meth:`Hold.release` before bridging the caller to an agent."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError, AriNotFound
from ccari.ari.ids import Kind
from ccari.config import VoiceConfig
from ccari.contacts.services import QueueService
from ccari.tasks import TaskSet
from ccari.voice.calls import Call

log = logging.getLogger(__name__)
WAITING = ("queued", "offered")


async def safe(aw: Awaitable[Any]) -> bool:
    """ARI calls on channels that may have just hung up: 404 is expected, not an error.
    True when Asterisk did it."""
    try:
        await aw
    except AriNotFound:
        log.debug("ARI object already gone")
    except AriError as exc:
        log.warning("ARI request failed: %s", exc)
    else:
        return True
    return False


def announcement(position: int, wait_s: float, sound: Callable[[str], str]) -> list[str]:
    """"Please hold, you are caller number N. Your estimated wait is M minutes." """
    media = [sound("please-hold"), f"number:{position}"]
    if math.isfinite(wait_s) and wait_s > 0:
        minutes = max(1, math.ceil(wait_s / 60))
        media += [sound("estimated-wait"), f"number:{minutes}",
                  sound("minute" if minutes == 1 else "minutes")]
    return media


class Hold:
    def __init__(self, ari: AriClient, queue: QueueService, config: VoiceConfig, tasks: TaskSet,
                 sound: Callable[[str], str]) -> None:
        self._ari = ari
        self._queue = queue
        self._cfg = config
        self._tasks = tasks
        self._sound = sound
        self._run = secrets.token_hex(3)  # this process's announcements' ids

    def start(self, call: Call) -> None:
        """The caller waits (again): announcements from now on.  A loop left from an earlier
        wait (a call back in the queue after a transfer) is stopped, not run beside it."""
        previous = call.announcer
        if previous is not None and previous is not asyncio.current_task():
            previous.cancel()
        call.announcer = self._tasks.spawn(self._loop(call), f"ann-{call.contact_id}")

    async def _loop(self, call: Call) -> None:
        """Position and predicted wait on entry, then every announce_every_s; MOH between."""
        while call.phase in WAITING:
            view = self._queue.view(call.contact_id)
            if view is not None and call.phase == "queued":
                call.announcements += 1
                media = announcement(view.position, view.predicted_wait_s, self._sound)
                if call.settings.greeting is not None and not call.greeted:
                    call.greeted = True  # once, before the first announcement
                    media = [self._sound(call.settings.greeting), *media]
                if call.moh is not False:
                    await safe(self._ari.stop_moh(call.channel_id))
                    call.moh = False
                # Never an id Asterisk may still hold: not one of an earlier wait of this
                # call (a playback stopped when it was answered), nor one a previous process
                # left playing (a restart): Asterisk refuses a second playback of one id.
                call.playback_id = ids.make(Kind.ANNOUNCEMENT, call.contact_id, self._run,
                                            call.announcements)
                if not await safe(self._ari.play(call.channel_id, media,
                                                 playback_id=call.playback_id)):
                    call.playback_id = None  # the music, not silence until the next one
                    await self._music(call)
            elif not call.moh:
                await self._music(call)
            await asyncio.sleep(call.settings.announce_every_s)

    async def announcement_finished(self, call: Call, playback_id: str) -> None:
        """Back to music after an announcement (caller holds the call's lock)."""
        if playback_id != call.playback_id:
            return
        call.playback_id = None
        if call.phase in WAITING and not call.moh:
            await self._music(call)

    async def _music(self, call: Call) -> None:
        await safe(self._ari.start_moh(call.channel_id, self._cfg.moh_class))
        call.moh = True

    async def release(self, call: Call) -> None:
        """The caller leaves the queue for an agent: no announcement, no music."""
        if call.playback_id is not None:  # an announcement may still be playing
            await safe(self._ari.stop_playback(call.playback_id))
            call.playback_id = None
        if call.moh is not False:
            await safe(self._ari.stop_moh(call.channel_id))
            call.moh = False
