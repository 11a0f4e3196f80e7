"""Wiring of the callbacks context into the runtime (called once by ccari.app.runtime).

``install`` builds the :class:`CallbackService` (requests, cancel, reschedule, the scheduler),
makes it the deliverer of medium ``callback`` (agent first), offers it to the voice ACD as
the IVR's "call me back" (``rt.ivr_callbacks``, handed to ``VoiceService`` when the
composition root builds it) and adds the public and internal routes.  Dialling needs the
PBX: :func:`attach` (run by the composition root once ARI and the voice ACD exist, before
ARI connects) adds the :class:`Dialer`, its ARI handlers and the reconcile-then-schedule
hook.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from ccari.callbacks import http
from ccari.callbacks import stasis as callbacks_stasis
from ccari.callbacks.dialer import Dialer
from ccari.callbacks.services import CallbackService
from ccari.voice.ports import Admission

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService


class _AdmitAllOutbound:
    """No trunk admission configured: every outbound call is admitted."""

    async def admit_outbound(self, tenant_id: int, call_id: str) -> Admission:
        return Admission(True)

    async def would_admit_outbound(self, tenant_id: int) -> bool:
        return True

    async def release(self, call_id: str) -> None:
        return None


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes, commands, deliverers and background services of this context."""
    service = CallbackService(rt.sessions, rt.queue, rt.hub, rt.config.callbacks,
                              node=rt.config.node, outward=rt.outward)
    rt.queue.register("callback", service)
    rt.ivr_callbacks = service
    rt.public_setups.append(http.public_setup(service))
    rt.internal_setups.append(http.internal_setup(service))
    stack.push_async_callback(service.close)
    # The composition root runs these with (ari, voice) once the PBX side exists.
    rt.pbx_setups.append(functools.partial(attach, rt, service, stack))


def attach(rt: Runtime, service: CallbackService, stack: contextlib.AsyncExitStack,
           ari: AriClient, router: StasisRouter, voice: VoiceService) -> Dialer:
    """Give the callbacks their dialer (call before ``ari.start()``); it dials through the
    voice ACD's hand-over port."""
    cfg = rt.config
    dialer = Dialer(ari, voice.handover, service, rt.sessions, rt.queue, rt.hub,
                    rt.admission or _AdmitAllOutbound(), node=cfg.node,
                    outbound_host=cfg.callbacks.outbound_host(cfg.pbx),
                    sound_prefix=cfg.voice.sound_prefix, moh_class=cfg.voice.moh_class,
                    legs=voice.legs)
    service.attach(dialer)
    callbacks_stasis.register(ari, router, dialer)
    stack.push_async_callback(dialer.close)
    rt.tenant_gone.append(dialer.forget_tenant)
    return dialer
