"""A tenant's queues (every tenant has ``main``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.base import ServiceBase, _queue, _tenant_by_id
from ccari.provisioning.prompts import unknown_refs
from ccari.storage.models import Queue, Tenant


class QueuesMixin(ServiceBase):
    async def queues(self, tenant_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await s.scalars(select(Queue).where(Queue.tenant_id == tenant_id)
                                   .order_by(Queue.name))
            return [views.queue(q) for q in rows]

    async def put_queue(self, actor: str, tenant_id: int, spec: sch.QueueSpec) -> dict[str, Any]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            q = await self._put_queue(s, actor, t, spec)
            await s.commit()
            view = views.queue(q)
        await self._changed(pbx=False)
        return view

    async def _put_queue(self, s: AsyncSession, actor: str, t: Tenant, spec: sch.QueueSpec) -> Queue:
        if spec.greeting is not None:
            await unknown_refs(s, t.id, {"greeting": spec.greeting})
        q = await _queue(s, t, spec.name, None)
        before = views.queue(q) if q is not None else None
        if q is None:
            q = Queue(tenant_id=t.id, name=spec.name)
            s.add(q)
        q.ring_timeout_s, q.wrap_up_s = spec.ring_timeout_s, spec.wrap_up_s
        q.announce_every_s, q.greeting = spec.announce_every_s, spec.greeting
        await s.flush()
        after = views.queue(q)
        if after != before:
            self._audit(s, actor, t, "queue", q.name, "update" if before else "create", before, after)
        return q
