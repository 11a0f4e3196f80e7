"""A tenant's settings, each one JSON value kept on the tenant and audited: business hours,
the after-hours route of its numbers that have none, the recording policy, fair blending's
hold and the wrap-up (disposition) codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.provisioning import hours as hrs
from ccari.provisioning.base import ServiceBase, _queue, _tenant_by_id
from ccari.provisioning.prompts import unknown_refs
from ccari.recording import policy as recording_policy
from ccari.storage.models import Queue, Tenant


class SettingsMixin(ServiceBase):
    # ---- business hours ---------------------------------------------------------------------
    async def hours(self, tenant_id: int) -> dict[str, Any]:
        """The tenant's calendar (None: no hours, never after hours), whether it is open now
        and when that changes next."""
        async with self._sessions() as s:
            calendar = (await _tenant_by_id(s, tenant_id)).hours
        return {"hours": calendar, **hrs.now_and_next(calendar, self._clock())}

    async def put_hours(self, actor: str, tenant_id: int,
                        calendar: dict[str, Any] | None) -> dict[str, Any]:
        """Set (None: remove) the tenant's calendar, checked by ``hours.calendar``."""
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            self._put_hours(s, actor, t, calendar)
            await s.commit()
        await self._changed(pbx=False)
        return {"hours": calendar, **hrs.now_and_next(calendar, self._clock())}

    def _put_hours(self, s: AsyncSession, actor: str, t: Tenant,
                   calendar: dict[str, Any] | None) -> None:
        before = t.hours
        if calendar == before:
            return
        t.hours = calendar
        action = "delete" if calendar is None else "update" if before else "create"
        self._audit(s, actor, t, "hours", t.slug, action, before, calendar)
    # ---- the tenant's after-hours route ------------------------------------------------------
    async def after_hours(self, tenant_id: int) -> dict[str, Any]:
        """The route its numbers without their own take outside hours (None: the
        announcement)."""
        async with self._sessions() as s:
            return {"after_hours": (await _tenant_by_id(s, tenant_id)).after_hours}

    async def put_after_hours(self, actor: str, tenant_id: int,
                              route: dict[str, Any] | None) -> dict[str, Any]:
        """Set (None: back to the announcement) the route checked by ``hours.after_hours``:
        its queue and its prompt must be the tenant's."""
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            route = dict(route) if route is not None else None
            queue, prompt = (route or {}).get("queue"), (route or {}).get("prompt")
            if queue is not None:
                await _queue(s, t, queue, "after_hours.queue")
            if prompt is not None:
                await unknown_refs(s, t.id, {"after_hours.prompt": prompt})
            before = t.after_hours
            if route != before:
                t.after_hours = route
                action = "delete" if route is None else "update" if before else "create"
                self._audit(s, actor, t, "after-hours", t.slug, action, before, route)
                await s.commit()
        await self._changed(pbx=False)
        return {"after_hours": route}

    # ---- recording policy -------------------------------------------------------------------
    async def recording(self, tenant_id: int) -> dict[str, Any] | None:
        async with self._sessions() as s:
            return (await _tenant_by_id(s, tenant_id)).recording

    async def put_recording(self, actor: str, tenant_id: int, data: Any) -> dict[str, Any]:
        """Set the tenant's recording policy, checked by ``ccari.recording.policy``."""
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            names = await s.scalars(select(Queue.name).where(Queue.tenant_id == t.id))
            policy = recording_policy.check(data, names)
            before = t.recording
            if policy != before:
                t.recording = policy
                self._audit(s, actor, t, "recording", t.slug, "update" if before else "create",
                            before, policy)
                await s.commit()
        return policy

    # ---- fair blending ----------------------------------------------------------------------
    async def blend_hold(self, tenant_id: int) -> float | None:
        async with self._sessions() as s:
            return (await _tenant_by_id(s, tenant_id)).blend_hold_s

    async def put_blend_hold(self, actor: str, tenant_id: int, seconds: float | None) -> None:
        """Store the tenant's blending hold (None: the node's default); the caller applies it
        to the router once it is saved."""
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            before = {"blend_hold_s": t.blend_hold_s}
            t.blend_hold_s = seconds
            self._audit(s, actor, t, "routing", "blend_hold_s", "update", before,
                        {"blend_hold_s": seconds})
            await s.commit()

    # ---- disposition codes ------------------------------------------------------------------
    async def dispositions(self, tenant_id: int) -> list[str] | None:
        """The tenant's own wrap-up codes; None: the node's ``voice.disposition_codes``."""
        async with self._sessions() as s:
            return (await _tenant_by_id(s, tenant_id)).dispositions

    async def put_dispositions(self, actor: str, tenant_id: int,
                               codes: Sequence[str] | None) -> list[str] | None:
        """Set (None: back to the node's) the tenant's codes, checked by ``schemas.codes``."""
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            before, after = t.dispositions, list(codes) if codes is not None else None
            if after != before:
                t.dispositions = after
                action = "delete" if after is None else "update" if before else "create"
                self._audit(s, actor, t, "dispositions", t.slug, action,
                            None if before is None else {"codes": before},
                            None if after is None else {"codes": after})
                await s.commit()
        return after
