"""Wiring of the SIP attack guard: its admin API always; once the PBX exists, an AMI
connection (security events, and the registrations' ``ContactStatus``) feeding the guard,
which also removes a TLS phone's registration made over another transport through it, and
the task that ends blocks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ccari.ami.adapter import AmiAdapter
from ccari.ami.errors import AmiAuthError, AmiUnavailable
from ccari.security import http
from ccari.security.facts import FAILURES
from ccari.security.services import SecurityService
from ccari.tasks import TaskSet

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)
CONNECT_RETRY_S = 5.0


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    service = SecurityService(rt.sessions, rt.config)
    rt.security = service
    rt.internal_setups.append(http.internal_setup(service))
    rt.metrics.counter("ccari_security_failures_total",
                       "SIP security failures Asterisk reported (bad password, unknown user...)",
                       lambda: service.failures_total)
    rt.metrics.counter("ccari_security_blocks_total", "SIP source addresses blocked",
                       lambda: service.blocks_total)
    rt.metrics.counter("ccari_security_breaches_total",
                       "TLS phones' credentials accepted by Asterisk over another transport",
                       lambda: service.breaches_total)
    rt.metrics.gauge("ccari_security_blocked", "SIP source addresses blocked now",
                     lambda: len(service.tracker.blocked(service.clock())))
    if not rt.config.security.enabled:
        return
    tasks = TaskSet("security")
    stack.push_async_callback(tasks.close)

    p = rt.config.pbx

    def make_ami() -> AmiAdapter:
        # security: the failures and authentications; system: Asterisk's "Shutdown" ends the
        # session at once, "ContactStatus" tells a registration was stored
        return AmiAdapter(p.host, p.ami_port, p.ami_user, p.ami_secret,
                          timeout=p.request_timeout_s, events="system,security")

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        tasks.spawn(watch(service, make_ami), "guard")

    rt.pbx_setups.append(attach)


async def watch(service: SecurityService, make_ami: Callable[[], AmiAdapter],
                retry_s: float = CONNECT_RETRY_S) -> None:
    """Connect to AMI (until it answers; the adapter then reconnects by itself), restore
    the blocks, then end them as they expire."""
    while True:
        ami = make_ami()
        for name in (*FAILURES, "SuccessfulAuth"):
            ami.on_event(name, service.on_event)
        ami.on_event("ContactStatus", service.on_contact_status)
        try:
            await ami.connect()
            break
        except AmiAuthError as exc:
            log.error("security: AMI refused ccari (%s): SIP attacks are not blocked", exc)
            return
        except AmiUnavailable as exc:
            log.warning("security: AMI not reachable yet (%s); retrying", exc)
            await asyncio.sleep(retry_s)
    try:
        await service.start(ami, ami)
        await service.run_expiry()
    finally:
        await ami.close()
