"""Tenants: create, rename (a new slug or name; the id, every row, the API token and the
audit trail stay), delete (refused while it has live contacts or logged-in agents; then
every row of the tenant goes, its numbers and phones leave Asterisk by a reload)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import delete, func, select

from ccari.contacts.repo import OPEN_STATES
from ccari.errors import Conflict
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.base import _tenant
from ccari.provisioning.queues import QueuesMixin
from ccari.storage.models import Agent, Contact, Tenant
from ccari.web.security import hash_token

log = logging.getLogger(__name__)


class TenantsMixin(QueuesMixin):
    async def tenant_id(self, slug: str) -> int:
        async with self._sessions() as s:
            return (await _tenant(s, slug)).id

    async def tenants(self, only: int | None = None) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            q = select(Tenant).order_by(Tenant.slug)
            if only is not None:
                q = q.where(Tenant.id == only)
            return [views.tenant(t) for t in await s.scalars(q)]

    async def tenant(self, slug: str) -> dict[str, Any]:
        """The whole tenant, as a document ``apply`` takes back (without secrets)."""
        async with self._sessions() as s:
            t = await _tenant(s, slug)
            return await views.document(s, t)

    async def create_tenant(self, actor: str, spec: sch.TenantSpec) -> tuple[dict[str, Any], str]:
        """The new tenant (with its queue ``main``) and its API token, shown this once."""
        token = secrets.token_urlsafe(24)
        async with self._sessions() as s:
            if await s.scalar(select(Tenant).where(Tenant.slug == spec.slug)) is not None:
                raise Conflict(f"tenant {spec.slug!r} exists", error_id="tenant-exists")
            t = Tenant(slug=spec.slug, name=spec.name, api_token_hash=hash_token(token))
            s.add(t)
            await s.flush()
            self._audit(s, actor, t, "tenant", t.slug, "create", None, views.tenant(t))
            await self._put_queue(s, actor, t, sch.QueueSpec("main"))
            await s.commit()
            return views.tenant(t), token

    async def rename_tenant(self, actor: str, slug: str,
                            spec: sch.TenantSpec) -> tuple[dict[str, Any], str]:
        """A new slug and/or name for the same tenant; the PBX is reloaded when the slug
        changed (its numbers carry it)."""
        async with self._sessions() as s:
            t = await _tenant(s, slug)
            if spec.slug != t.slug and await s.scalar(
                    select(Tenant.id).where(Tenant.slug == spec.slug)) is not None:
                raise Conflict(f"tenant {spec.slug!r} exists", error_id="tenant-exists")
            before = views.tenant(t)
            t.slug, t.name = spec.slug, spec.name
            after = views.tenant(t)
            if after != before:
                self._audit(s, actor, t, "tenant", t.slug, "rename", before, after)
                await s.commit()
        return after, await self._changed(pbx=after["slug"] != before["slug"])

    async def delete_tenant(self, actor: str, slug: str) -> str:
        """Remove the tenant and every row it owns (the database cascades from ``tenants``);
        the audit log keeps the deletion.  Refused (409) while work is live."""
        async with self._sessions() as s:
            t = await _tenant(s, slug)
            live = await s.scalar(select(func.count()).select_from(Contact).where(
                Contact.tenant_id == t.id, Contact.state.in_(OPEN_STATES)))
            agents = await s.scalar(select(func.count()).select_from(Agent).where(
                Agent.tenant_id == t.id, Agent.presence != "logged_out"))
            if live or agents:
                raise Conflict(f"tenant {slug!r} has {live} live contact(s) and {agents} "
                               "logged-in agent(s): end them first", error_id="tenant-busy")
            self._audit(s, actor, t, "tenant", t.slug, "delete", await views.document(s, t),
                        None)
            await s.execute(delete(Tenant).where(Tenant.id == t.id))
            await s.commit()
        if self.prompt_files is not None:  # its prompts' files for the PBX
            self.prompt_files.remove_tenant(t.id)
        for forget in self.gone_listeners:  # its files, what services hold of it
            try:
                forget(t.id)
            except Exception:  # one failing does not keep the others from forgetting
                log.exception("tenant %s deleted: a cleanup failed", t.id)
        return await self._changed(pbx=True)
