"""Wiring of the provisioning context: its REST API and admin pages on the internal listener; once the PBX
exists, changes reload Asterisk and refresh the voice ACD's number directory."""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import TYPE_CHECKING

from ccari.provisioning import codes, http, pages, prompt_routes, prompts, rotation, routing
from ccari.provisioning.pbx import PbxSync
from ccari.provisioning.services import Provisioning
from ccari.tasks import TaskSet
from ccari.tenants import cleanup

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    service = Provisioning(rt.sessions)
    # A deleted tenant's files, the router's knowledge of it and the sites cache go with it.
    service.gone_listeners = rt.tenant_gone
    rt.tenant_gone += [functools.partial(cleanup.remove_files, rt.config.state_path),
                       rt.queue.forget_tenant, rt.origins.forget]
    # Tenants deleted elsewhere (the CLI, another node): forgotten here too.
    tasks = TaskSet("provisioning")
    stack.push_async_callback(tasks.close)
    gone = cleanup.GoneTenants(rt.sessions, rt.tenant_gone)
    await gone.check()  # the tenants there are now
    tasks.spawn(gone.run(rt.config.tenants_check_s), "tenants-gone")
    rt.internal_setups.append(http.internal_setup(service))
    rt.internal_setups.append(routing.internal_setup)
    # API tokens and SIP passwords rotated without a restart.
    rt.internal_setups.append(rotation.internal_setup(
        rotation.Rotation(rt.sessions, service.reload_pbx)))
    rt.internal_setups.append(codes.internal_setup)
    rt.internal_setups.append(prompt_routes.internal_setup)  # the tenants' own prompts
    rt.internal_setups.append(pages.internal_setup)  # the admin pages, over the same service

    def attach(ari: AriClient, router: StasisRouter, voice: VoiceService) -> None:
        service.pbx = rt.pbx_sync or PbxSync(rt.sessions, rt.config)
        service.route_listeners.append(voice.directory.invalidate)
        # The tenants' own prompts: written where Asterisk reads them, again after every
        # (re)connect (an Asterisk whose files were lost gets them back).
        service.prompt_files = prompts.files_of(rt.config)
        if service.prompt_files is None:
            log.warning("no directory known for tenants' prompts (prompts.dir): "
                        "menus playing them will play nothing")
        ari.on_connected(service.publish_prompts)

    rt.pbx_setups.append(attach)
