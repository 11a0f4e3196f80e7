"""Wiring of the fax context into the runtime (called once by ccari.app.runtime).

``install`` builds the :class:`FaxService` (received faxes kept under
``<state_dir>/fax``) and the :class:`FaxSender` (faxes sent), makes the agent page the
deliverer of medium ``fax`` and adds the routes (the API's and the fax list pages').
Receiving and sending need the PBX: :func:`attach` (run by the composition root once ARI
exists, before it connects) registers the fax calls' handlers with the Stasis router.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ccari.fax import http, pages
from ccari.fax import stasis as fax_stasis
from ccari.fax.detect import FaxDetection
from ccari.fax.sending import FaxSender
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
    cfg = rt.config
    where = spools(cfg)
    spool, asterisk_spool = where or (Path(), PurePosixPath())
    store = FaxStore(cfg.state_path / "fax")
    service = FaxService(rt.sessions, rt.queue, store, spool=spool,
                         asterisk_spool=asterisk_spool, node=cfg.node)
    sender = FaxSender(rt.sessions, store, spool=spool, asterisk_spool=asterisk_spool,
                       dial=cfg.fax.dial, trunk=cfg.callbacks.trunk,
                       host=cfg.callbacks.outbound_host(cfg.pbx), admission=rt.admission,
                       retries=cfg.fax.retries, retry_after_s=cfg.fax.retry_after_s,
                       outward=rt.outward)
    stack.push_async_callback(sender.close)
    rt.offers.register_medium(MEDIUM)
    rt.agent_scripts.append("/static/agent-fax.js")
    rt.internal_setups.append(http.internal_setup(service, sender))
    rt.internal_setups.append(pages.internal_setup)  # after http's: its service and sender
    if where is None:
        log.warning("no fax spool known (fax.spool): no fax is received or sent")
        return
    rt.pbx_setups.append(functools.partial(attach, service, sender, cfg.fax.detect_s))


def attach(service: FaxService, sender: FaxSender, detect_s: float, ari: AriClient,
           router: StasisRouter, voice: VoiceService) -> None:
    fax_stasis.register(ari, router, service, sender)
    detection = FaxDetection(ari, service, detect_s)
    voice.answered.append(detection.arm)
    voice.leaving.append(detection.left)
    ari.on_connected(detection.reconcile)
