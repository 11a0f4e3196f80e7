"""A tenant's IVR menus, checked together (references, cycles, depth); a menu a number
or another menu uses is not deleted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.errors import Conflict, NotFound
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.base import ServiceBase, _menu, _menus, _tenant_by_id
from ccari.provisioning.prompts import unknown_refs
from ccari.storage.models import IvrMenu, IvrOption, Number, Tenant


class MenusMixin(ServiceBase):
    async def menus(self, tenant_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await _menus(s, tenant_id)
            return [views.menu(m, rows) for m in sorted(rows.values(), key=lambda m: m.name)]

    async def menu(self, tenant_id: int, name: str) -> dict[str, Any]:
        async with self._sessions() as s:
            rows = await _menus(s, tenant_id)
            t = await _tenant_by_id(s, tenant_id)
            return views.menu(await _menu(s, t, name, None), rows)

    async def put_menu(self, actor: str, tenant_id: int, spec: sch.MenuSpec,
                       *, create: bool) -> dict[str, Any]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            exists = any(m.name == spec.name for m in (await _menus(s, tenant_id)).values())
            if create and exists:
                raise Conflict(f"menu {spec.name!r} exists", error_id="menu-exists")
            if not create and not exists:
                raise NotFound(f"no menu {spec.name!r}", error_id="menu-not-found")
            await self._put_menus(s, actor, t, (spec,))
            await s.commit()
            rows = await _menus(s, tenant_id)
            view = views.menu(next(m for m in rows.values() if m.name == spec.name), rows)
        await self._changed(pbx=False)
        return view

    async def delete_menu(self, actor: str, tenant_id: int, name: str) -> None:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            rows = await _menus(s, tenant_id)
            m = await _menu(s, t, name, None)
            users = [f"number {n}" for n in await s.scalars(
                select(Number.did).where(Number.ivr_menu_id == m.id))]
            users += [f"menu {o.name}" for o in rows.values()
                      if any(op.submenu_id == m.id for op in o.options)]
            if users:
                raise Conflict(f"menu {name!r} is used by {', '.join(users)}",
                               error_id="menu-in-use")
            self._audit(s, actor, t, "menu", name, "delete", views.menu(m, rows), None)
            await s.delete(m)
            await s.commit()
        await self._changed(pbx=False)

    async def _put_menus(self, s: AsyncSession, actor: str, t: Tenant,
                         specs: Sequence[sch.MenuSpec]) -> None:
        rows = await _menus(s, t.id)
        by_name = {m.name: m for m in rows.values()}
        # The tenant's menus as they will be, checked together: references, cycles, depth.
        merged = {name: views.menu_spec(m, rows) for name, m in by_name.items()}
        merged.update({m.name: m for m in specs})
        sch.check_menus(merged)
        for spec in specs:  # the tenant's own prompts they name exist
            await unknown_refs(s, t.id, {f"menus.{spec.name}.prompt": spec.prompt,
                                         f"menus.{spec.name}.invalid_prompt": spec.invalid_prompt})
        before = {m.name: views.menu(by_name[m.name], rows) for m in specs if m.name in by_name}
        for spec in specs:  # every menu exists before options name them
            if spec.name not in by_name:
                row = IvrMenu(tenant_id=t.id, name=spec.name, prompt=spec.prompt,
                              invalid_prompt=spec.invalid_prompt)
                s.add(row)
                by_name[spec.name] = row
        await s.flush()
        for spec in specs:
            row = by_name[spec.name]
            row.prompt, row.invalid_prompt = spec.prompt, spec.invalid_prompt
            row.timeout_s, row.max_tries = spec.timeout_s, spec.max_tries
            row.default_attributes = dict(spec.default or {})
            await s.execute(delete(IvrOption).where(IvrOption.menu_id == row.id))
            for o in spec.options:
                s.add(IvrOption(menu_id=row.id, digit=o.digit, label=o.label,
                                attributes=dict(o.attributes), action=o.action,
                                submenu_id=by_name[o.menu].id if o.menu else None))
        await s.flush()
        rows = await _menus(s, t.id, fresh=True)
        for spec in specs:
            row = next(m for m in rows.values() if m.name == spec.name)
            after, was = views.menu(row, rows), before.get(spec.name)
            if after != was:
                self._audit(s, actor, t, "menu", spec.name, "update" if was else "create",
                            was, after)
