"""Wiring of the recording context into the runtime (called once by ccari.app.runtime).

``install`` adds the tenant's recordings API, the contact's page with its players and the
``recording:retention`` task; once ARI and the voice ACD exist (``rt.pbx_setups``), the
recorder: a call bridged by the voice ACD is recorded per its tenant's policy, its end
keeps the file, the agent's recording commands, the recordings' ARI events (ids
``rec-...``) and the reconcile on every connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING

from ccari.ari import AriClient
from ccari.ari.events import RecordingFailed, RecordingFinished
from ccari.ari.ids import Kind
from ccari.ari.router import StasisRouter
from ccari.recording import commands, http, pages
from ccari.recording.library import Library
from ccari.recording.services import Recordings
from ccari.tasks import TaskSet
from ccari.voice.services import VoiceService

if TYPE_CHECKING:
    from ccari.app import Runtime

log = logging.getLogger(__name__)


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    state_dir = rt.config.state_path
    library = Library(rt.sessions, state_dir, lambda: dt.datetime.now(dt.UTC))
    rt.internal_setups.append(http.internal_setup(library))
    rt.internal_setups.append(pages.add_routes)  # after http's: it uses the library
    tasks = TaskSet("recording")
    tasks.spawn(_retention(library, rt.config.voice.recording_retention_every_s), "retention")
    stack.push_async_callback(tasks.close)

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        recordings = Recordings(ari, rt.sessions, state_dir, rt.hub, node=rt.config.node,
                                now=voice.now)
        stack.push_async_callback(recordings.close)
        rt.tenant_gone.append(recordings.forget_tenant)
        rt.metrics.counter("ccari_recordings_store_failures_total",
                           "Recording files that could not be written to the state dir "
                           "(each is kept on Asterisk and written again later)",
                           lambda: recordings.store_failures)
        voice.on_connected.append(recordings.connected)
        voice.page_views.append(recordings.page_view)
        voice.agent_part_over.append(recordings.agent_part_over)
        commands.register(rt.commands, voice.calls, recordings)
        owner = router.owner("recording", kinds=(Kind.RECORDING,))

        async def on_end(ev: RecordingFinished | RecordingFailed) -> None:
            await recordings.finished(ev.recording.name)

        owner.on(RecordingFinished, on_end)
        owner.on(RecordingFailed, on_end)
        ari.on_connected(recordings.reconcile)

    rt.pbx_setups.append(attach)


async def _retention(library: Library, every_s: float) -> None:
    """Named periodic task: the recordings past their tenant's retention are deleted, a
    minute after start (not while the process is still starting, or already stopping
    again) and then every ``every_s``."""
    await asyncio.sleep(min(every_s, 60.0))
    while True:
        try:
            await library.retention_pass()
        except Exception:
            log.exception("recording retention pass failed")
        await asyncio.sleep(every_s)
