"""Wiring of the supervisor context: its page and JSON API on the internal listener, and
the monitoring of live calls once the PBX side exists (the composition root runs
:func:`attach` with ARI, the Stasis router and the voice ACD, before ARI connects)."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from ccari.supervisor import http
from ccari.voice import supervision as supervision_mod
from ccari.voice.supervision import Supervision

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


class _Slot:
    """The monitoring service, filled in by :func:`attach` (None without a PBX)."""

    def __init__(self) -> None:
        self.supervision: Supervision | None = None

    def __call__(self) -> Supervision | None:
        return self.supervision


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    slot = _Slot()
    rt.internal_setups.append(http.internal_setup(slot))
    rt.pbx_setups.append(functools.partial(attach, rt, slot, stack))


def attach(rt: Runtime, slot: _Slot, stack: contextlib.AsyncExitStack,
           ari: AriClient, router: StasisRouter, voice: VoiceService) -> Supervision:
    service = Supervision(voice, rt.hub)
    supervision_mod.register(ari, router, service)
    slot.supervision = service
    stack.push_async_callback(service.close)
    return service
