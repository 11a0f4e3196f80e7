"""What a deleted tenant leaves outside the database, removed once its rows are gone: its
files under ccari's state dir (recordings, faxes; voicemails and prompts are rows) and, in a
running ccari, what the services hold in memory (the router's statistics and rules, caches).

The provisioning service calls each of ``Runtime.tenant_gone`` with the tenant's id after the
deletion's commit; each context appends what it must forget.  ``ccari admin tenants delete``
(no running services) removes the files; a running ccari notices the tenant is gone from the
database within ``tenants_check_s`` (:class:`GoneTenants`) and forgets it then, as do the
other nodes sharing the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.recording import files as recording_files
from ccari.storage.models import Tenant

log = logging.getLogger(__name__)

#: Directories under the state dir with one sub-directory per tenant id.
TENANT_DIRS = (recording_files.DIR, "fax")


def tenant_dirs(state_dir: Path, tenant_id: int) -> list[Path]:
    return [state_dir / d / str(int(tenant_id)) for d in TENANT_DIRS]


def remove_files(state_dir: Path, tenant_id: int) -> None:
    for path in tenant_dirs(state_dir, tenant_id):
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            log.info("tenant %s deleted: %s removed", tenant_id, path)


def vanished(known: set[tuple[int, dt.datetime]],
             now: set[tuple[int, dt.datetime]]) -> list[int]:
    """The ids of the tenants known before that the database no longer has (a tenant is its
    id and its creation time: an id SQLite gave again is another tenant)."""
    return sorted({tid for tid, made in known - now})


class GoneTenants:
    """Tenants deleted outside this process: their ids, once missing from the database, go
    to every ``forget`` (``Runtime.tenant_gone``; each is idempotent)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 forget: Sequence[Callable[[int], None]]) -> None:
        self._sessions = sessions
        self._forget = forget
        self._known: set[tuple[int, dt.datetime]] | None = None

    async def check(self) -> list[int]:
        async with self._sessions() as s:
            now = {(tid, made) for tid, made in (await s.execute(
                select(Tenant.id, Tenant.created_at))).all()}
        gone = vanished(self._known, now) if self._known is not None else []
        self._known = now
        for tenant_id in gone:
            log.info("tenant %s deleted elsewhere: forgetting it", tenant_id)
            for forget in self._forget:
                try:
                    forget(tenant_id)
                except Exception:  # one failing does not keep the others from forgetting
                    log.exception("tenant %s deleted: a cleanup failed", tenant_id)
        return gone

    async def run(self, every_s: float) -> None:
        """Check every ``every_s`` (after a first :meth:`check` that learnt the tenants)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.check()
            except Exception:  # the database away: next time
                log.warning("tenants: could not check for deleted ones", exc_info=True)
