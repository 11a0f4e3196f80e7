"""Wiring of the fax context into the runtime (called once by ccari.app.runtime).

``install`` builds the :class:`FaxService` (received faxes kept under
``<state_dir>/fax``), makes the agent page the deliverer of medium ``fax`` and adds the
routes.  Receiving needs the PBX: :func:`attach` (run by the composition root once ARI
exists, before it connects) registers the fax calls' handlers with the Stasis router.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ccari.fax import http
from ccari.fax import stasis as fax_stasis
from ccari.fax.services import MEDIUM, FaxService
from ccari.fax.store import FaxStore

if TYPE_CHECKING:
    from ccari.app import Runtime
    from ccari.ari import AriClient
    from ccari.ari.router import StasisRouter
    from ccari.config import Config
    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)


def spools(cfg: Config) -> tuple[Path, PurePosixPath] | None:
    """Where Asterisk writes received faxes, as ccari and as Asterisk see it (None: unknown,
    an external Asterisk whose fax directory is not configured)."""
    if cfg.fax.spool:
        return Path(cfg.fax.spool), PurePosixPath(cfg.fax.asterisk_spool)
    if cfg.pbx.mode != "managed":
        return None
    from ccari.pbx.errors import PbxError
    from ccari.pbx.instance import instance_paths

    try:
        paths = instance_paths(cfg.pbx.instance)
    except PbxError:
        return None
    return paths.host / "spool" / "fax", paths.inner / "spool" / "fax"


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register routes and the deliverer of medium ``fax``; receiving attaches to the PBX."""
    if rt.offers is None:
        raise RuntimeError("the fax context needs the page offers")
    where = spools(rt.config)
    spool, asterisk_spool = where or (Path(), PurePosixPath())
    service = FaxService(rt.sessions, rt.queue, FaxStore(rt.config.state_path / "fax"),
                         spool=spool, asterisk_spool=asterisk_spool, node=rt.config.node)
    rt.offers.register_medium(MEDIUM)
    rt.agent_scripts.append("/static/agent-fax.js")
    rt.internal_setups.append(http.internal_setup(service))
    if where is None:
        log.warning("no fax spool known (fax.spool): calls to fax numbers get no fax")
        return
    rt.pbx_setups.append(functools.partial(attach, service))


def attach(service: FaxService, ari: AriClient, router: StasisRouter,
           voice: VoiceService) -> None:
    fax_stasis.register(ari, router, service)
