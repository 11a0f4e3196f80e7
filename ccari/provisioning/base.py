"""What every part of the provisioning service shares: the sessions, the audit entry written
in the change's own transaction, what runs after a commit (the PBX sync, the listeners), and
the lookups that raise ``NotFound``/``Invalid`` with a stable error id."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.errors import NotFound
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.models import AuditEntry
from ccari.storage.models import Agent, IvrMenu, Number, Queue, Site, Tenant

if TYPE_CHECKING:
    from ccari.provisioning.prompts import PromptFiles

log = logging.getLogger(__name__)

PbxListener = Callable[[], Awaitable[str]]


class ServiceBase:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock  # what "open now" means in the hours' answer
        # Set once the PBX exists (ccari with Asterisk; ``ccari admin`` syncs on its own).
        self.pbx: PbxListener | None = None
        self.route_listeners: list[Callable[[], None]] = []
        # Where the PBX reads the tenants' own prompts (set with the PBX, like ``pbx``).
        self.prompt_files: PromptFiles | None = None
        # Told a deleted tenant's id after the commit (``ccari.tenants.cleanup``).
        self.gone_listeners: list[Callable[[int], None]] = []

    async def _changed(self, *, pbx: bool) -> str:
        for listener in self.route_listeners:
            listener()
        if not pbx:
            return "unchanged"
        if self.pbx is None:
            return "off"
        return await self.pbx()

    async def reload_pbx(self) -> str:
        """Render the database into Asterisk now (after a change made elsewhere)."""
        return await self._changed(pbx=True)

    @staticmethod
    def _audit(s: AsyncSession, actor: str, tenant: Tenant, kind: str, key: str, action: str,
               before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        s.add(AuditEntry(actor=actor, tenant_id=tenant.id, tenant=tenant.slug, kind=kind,
                         key=key, action=action, before=before, after=after))
        log.info("provisioning: %s %s %s %s/%s", actor, action, kind, tenant.slug, key)

    async def audit(self, tenant_id: int, limit: int = 100) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await s.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
                                   .order_by(AuditEntry.id.desc()).limit(limit))
            return [views.audit(e) for e in rows]


# ---- lookups that raise ----------------------------------------------------------------------
async def _tenant(s: AsyncSession, slug: str) -> Tenant:
    t = await s.scalar(select(Tenant).where(Tenant.slug == slug))
    if t is None:
        raise NotFound(f"no tenant {slug!r}", error_id="tenant-not-found")
    return t


async def _tenant_by_id(s: AsyncSession, tenant_id: int) -> Tenant:
    t = await s.get(Tenant, tenant_id)
    if t is None:
        raise NotFound("no such tenant", error_id="tenant-not-found")
    return t


async def _number(s: AsyncSession, tenant_id: int, did: str) -> Number:
    n = await s.scalar(select(Number).where(Number.tenant_id == tenant_id,
                                            Number.did == sch.e164(did)))
    if n is None:
        raise NotFound(f"no number {did}", error_id="number-not-found")
    return n


async def _queue(s: AsyncSession, t: Tenant, name: str, field: str | None) -> Queue | None:
    q = await s.scalar(select(Queue).where(Queue.tenant_id == t.id, Queue.name == name))
    if q is None and field is not None:
        raise sch.Invalid(f"{field}: no queue {name!r}", error_id="unknown-queue")
    return q


async def _menu(s: AsyncSession, t: Tenant, name: str, field: str | None) -> IvrMenu:
    m = await s.scalar(select(IvrMenu).where(IvrMenu.tenant_id == t.id, IvrMenu.name == name))
    if m is None:
        if field is not None:
            raise sch.Invalid(f"{field}: no menu {name!r}", error_id="unknown-menu")
        raise NotFound(f"no menu {name!r}", error_id="menu-not-found")
    return m


async def _menus(s: AsyncSession, tenant_id: int, *, fresh: bool = False) -> dict[int, IvrMenu]:
    """The tenant's menus by id (``fresh``: read again, options included, after a write)."""
    q = select(IvrMenu).where(IvrMenu.tenant_id == tenant_id)
    if fresh:
        q = q.execution_options(populate_existing=True)
    return {m.id: m for m in await s.scalars(q)}


async def _agent(s: AsyncSession, tenant_id: int, username: str) -> Agent:
    a = await _agent_or_none(s, tenant_id, username)
    if a is None:
        raise NotFound(f"no agent {username!r}", error_id="agent-not-found")
    return a


async def _agent_or_none(s: AsyncSession, tenant_id: int, username: str) -> Agent | None:
    found: Agent | None = await s.scalar(select(Agent).where(Agent.tenant_id == tenant_id,
                                                             Agent.username == username))
    return found


async def _site(s: AsyncSession, t: Tenant, name: str) -> Site:
    site = await s.scalar(select(Site).where(Site.tenant_id == t.id, Site.name == name))
    if site is None:
        site = Site(tenant_id=t.id, name=name)
        s.add(site)
        await s.flush()
    return site
