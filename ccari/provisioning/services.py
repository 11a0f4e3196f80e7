"""Provisioning use cases, shared by the REST API, the admin pages and ``ccari admin``.

One facade over one part per aggregate (:mod:`.tenants`, :mod:`.queues`, :mod:`.numbers`,
:mod:`.agents`, :mod:`.ivr`, :mod:`.prompts`, :mod:`.settings`).  Every change runs in one transaction: the
checks that need the database (a DID belongs to one tenant, a phone name is global, an
option's sub-menu exists, a menu still in use is not deleted), the write, and its
:class:`~ccari.provisioning.models.AuditEntry` (who, when, before and after).  After the
commit, the listeners hear of it: the PBX sync for numbers and agents' phones, the number
directory's cache for routes.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.errors import Forbidden, NotFound
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.agents import AgentsMixin
from ccari.provisioning.base import PbxListener, _queue, _tenant_by_id
from ccari.provisioning.ivr import MenusMixin
from ccari.provisioning.numbers import NumbersMixin
from ccari.provisioning.prompts import PromptsMixin
from ccari.provisioning.settings import SettingsMixin
from ccari.provisioning.tenants import TenantsMixin
from ccari.storage.models import Number, Tenant
from ccari.web.security import hash_token

__all__ = ["PbxListener", "Provisioning", "_tenant_by_id"]


class Provisioning(TenantsMixin, NumbersMixin, AgentsMixin, MenusMixin, PromptsMixin,
                   SettingsMixin):
    async def apply(self, actor: str, doc: sch.TenantDocument,
                    *, admin: bool = False) -> tuple[dict[str, Any], str | None, str]:
        """Create or update a whole tenant from a document (what it does not name stays);
        returns the document now, the API token when the tenant is new, and the PBX result."""
        async with self._sessions() as s:
            t, token = await self.apply_in(s, actor, doc, admin=admin)
            await s.commit()
            result = await views.document(s, t)
        pbx = await self._changed(pbx=bool(doc.numbers or doc.agents))
        return result, token, pbx

    async def apply_in(self, s: AsyncSession, actor: str, doc: sch.TenantDocument,
                       *, admin: bool = False) -> tuple[Tenant, str | None]:
        """``apply`` within the caller's transaction (the demo seed's), who commits and
        reloads the PBX; the tenant and its API token when it is new.  What only the admin
        may do (create the tenant, rename it, give it a number it does not have) is refused
        to a tenant's own token with 403 ``admin-only``, before anything is written."""
        token = None
        t = await s.scalar(select(Tenant).where(Tenant.slug == doc.tenant.slug))
        if not admin:
            await _tenants_own(s, t, doc)
        if t is None:
            token = secrets.token_urlsafe(24)
            t = Tenant(slug=doc.tenant.slug, name=doc.tenant.name,
                       api_token_hash=hash_token(token))
            s.add(t)
            await s.flush()
            self._audit(s, actor, t, "tenant", t.slug, "create", None, views.tenant(t))
        elif t.name != doc.tenant.name:
            before = views.tenant(t)
            t.name = doc.tenant.name
            self._audit(s, actor, t, "tenant", t.slug, "update", before, views.tenant(t))
        queues = [*doc.queues]
        if "main" not in {q.name for q in queues} and await _queue(s, t, "main", None) is None:
            queues.append(sch.QueueSpec("main"))
        for q in queues:
            await self._put_queue(s, actor, t, q)
        await self._put_menus(s, actor, t, doc.menus)
        for n in doc.numbers:
            await self._put_number(s, actor, t, n)
        for a in doc.agents:
            await self._put_agent(s, actor, t, a)
        if doc.hours is not None:
            self._put_hours(s, actor, t, dict(doc.hours))
        return t, token


async def _tenants_own(s: AsyncSession, t: Tenant | None, doc: sch.TenantDocument) -> None:
    """A tenant's own token applies a document only to what is already its own."""
    if t is None:
        raise NotFound(f"no tenant {doc.tenant.slug!r}", error_id="tenant-not-found")
    if t.name != doc.tenant.name:
        raise Forbidden("only the admin token may rename a tenant", error_id="admin-only")
    named = {n.did for n in doc.numbers}
    owned = set((await s.scalars(select(Number.did).where(
        Number.tenant_id == t.id, Number.did.in_(named)))).all()) if named else set()
    if named - owned:
        raise Forbidden(f"only the admin token may give a tenant a number: "
                        f"{', '.join(sorted(named - owned))}", error_id="admin-only")
