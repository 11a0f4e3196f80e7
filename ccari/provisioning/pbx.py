"""Provisioning changes reach Asterisk: what ``ccari pbx-sync`` does, after every change that
touches the PBX (numbers, agents' phones), without a restart.

The configuration is rendered again from the database; only the files that changed are
reloaded (``module reload res_pjsip.so`` / ``dialplan reload``), which keeps the calls in
progress.  A managed Asterisk is reloaded through its CLI, an admin's own one (``pbx.mode =
"external"``) through AMI after the files in ``pbx.render_dir`` are rewritten.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import pbx
from ccari.config import Config
from ccari.pbx.errors import NotRunningError, PbxError
from ccari.pbx.spec import PbxSpec
from ccari.tenants.pbx import build_spec

log = logging.getLogger(__name__)


async def apply(cfg: Config, spec: PbxSpec) -> list[str]:
    """Render ``spec`` and make the running Asterisk load what changed; what was reloaded."""
    if cfg.pbx.mode == "external":
        dest = Path(cfg.pbx.render_dir or cfg.state_path / "asterisk")
        changed = await asyncio.to_thread(pbx.render, spec, dest, external=True)
        if not changed:
            return []
        return await ami_reload(cfg)
    return await asyncio.to_thread(pbx.reload, spec)


async def ami_reload(cfg: Config) -> list[str]:
    """An admin's own Asterisk: no CLI access from here, so reload over AMI (loopback)."""
    from ccari.ami.adapter import AmiAdapter

    p = cfg.pbx
    ami = AmiAdapter(p.host, p.ami_port, p.ami_user, p.ami_secret, timeout=p.request_timeout_s)
    await ami.connect()
    done = []
    try:
        for module in ("res_pjsip.so", "pbx_config.so"):
            await ami.reload(module)
            log.info("Asterisk reloaded %s over AMI", module)
            done.append(f"module reload {module}")
    finally:
        await ami.close()
    return done


class PbxSync:
    """One sync at a time (each renders what the database says when it starts)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cfg: Config) -> None:
        self._sessions = sessions
        self._cfg = cfg
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        """``reloaded`` (what), ``unchanged``, or ``not-running``/``failed`` (the change is
        saved; the next start or sync renders it)."""
        async with self._lock:
            async with self._sessions() as s:
                spec = await build_spec(s, self._cfg)
            try:
                commands = await apply(self._cfg, spec)
            except NotRunningError:
                log.warning("provisioning: Asterisk %s is not running; its next start has "
                            "the change", spec.instance)
                return "not-running"
            except (PbxError, OSError) as exc:
                log.warning("provisioning: Asterisk %s not reloaded: %s", spec.instance, exc)
                return "failed"
        return f"reloaded: {', '.join(commands)}" if commands else "unchanged"
