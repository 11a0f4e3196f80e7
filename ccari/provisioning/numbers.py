"""A tenant's numbers (DIDs): which queue, which IVR menu, their own hours and
after-hours route, voice or fax.  A DID belongs to one tenant; adding or removing one reloads
Asterisk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.errors import Conflict
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.base import ServiceBase, _menu, _number, _queue, _tenant_by_id
from ccari.provisioning.prompts import unknown_refs
from ccari.storage.models import Number, Tenant


class NumbersMixin(ServiceBase):
    async def numbers(self, tenant_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await s.scalars(select(Number).where(Number.tenant_id == tenant_id)
                                   .order_by(Number.did))
            return [await views.number(s, n) for n in rows]

    async def number(self, tenant_id: int, did: str) -> dict[str, Any]:
        async with self._sessions() as s:
            return await views.number(s, await _number(s, tenant_id, did))

    async def create_number(self, actor: str, tenant_id: int,
                            spec: sch.NumberSpec) -> tuple[dict[str, Any], str]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            found = await s.scalar(select(Number).where(Number.did == spec.did))
            if found is not None:
                raise Conflict(f"{spec.did} is already a number of a tenant",
                               error_id="number-taken")
            n = await self._put_number(s, actor, t, spec)
            await s.commit()
            view = await views.number(s, n)
        return view, await self._changed(pbx=True)

    async def update_number(self, actor: str, tenant_id: int, did: str,
                            spec: sch.NumberSpec) -> tuple[dict[str, Any], str]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            n = await _number(s, tenant_id, did)
            if spec.did != n.did:
                raise Conflict("a number's digits do not change: delete it and add the new one",
                               error_id="did-fixed")
            n = await self._put_number(s, actor, t, spec)
            await s.commit()
            view = await views.number(s, n)
        return view, await self._changed(pbx=False)

    async def delete_number(self, actor: str, tenant_id: int, did: str) -> str:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            n = await _number(s, tenant_id, did)
            self._audit(s, actor, t, "number", n.did, "delete", await views.number(s, n), None)
            await s.delete(n)
            await s.commit()
        return await self._changed(pbx=True)

    async def _put_number(self, s: AsyncSession, actor: str, t: Tenant,
                          spec: sch.NumberSpec) -> Number:
        n = await s.scalar(select(Number).where(Number.did == spec.did))
        if n is not None and n.tenant_id != t.id:
            raise Conflict(f"{spec.did} is already a number of a tenant", error_id="number-taken")
        queue = await _queue(s, t, spec.queue, "numbers.queue")
        menu = await _menu(s, t, spec.menu, "numbers.menu") if spec.menu else None
        night = (spec.after_hours or {}).get("queue")
        if night is not None:
            await _queue(s, t, night, "numbers.after_hours.queue")
        closed = (spec.after_hours or {}).get("prompt")
        if closed is not None:
            await unknown_refs(s, t.id, {"after_hours.prompt": closed})
        before = await views.number(s, n) if n is not None else None
        if n is None:
            n = Number(tenant_id=t.id, did=spec.did)
            s.add(n)
        assert queue is not None
        n.queue_id, n.ivr_menu_id = queue.id, menu.id if menu else None
        n.hours = dict(spec.hours) if spec.hours is not None else None
        n.after_hours = dict(spec.after_hours) if spec.after_hours is not None else None
        n.purpose = spec.purpose
        await s.flush()
        after = await views.number(s, n)
        if after != before:
            self._audit(s, actor, t, "number", n.did, "update" if before else "create", before, after)
        return n
