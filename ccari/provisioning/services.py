"""Provisioning use cases, shared by the REST API and ``ccari admin``.

Every change runs in one transaction: the checks that need the database (a DID belongs to
one tenant, a phone name is global, an option's sub-menu exists, a menu still in use is not
deleted), the write, and its :class:`AuditEntry` (who, when, before and after).  After the
commit, the listeners hear of it: the PBX sync for numbers and agents' phones, the number
directory's cache for routes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.errors import Conflict, NotFound
from ccari.provisioning import hours as hrs
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.models import AuditEntry
from ccari.recording import policy as recording_policy
from ccari.storage.models import (
    Agent,
    AgentSkill,
    IvrMenu,
    IvrOption,
    Number,
    Queue,
    Site,
    Tenant,
)
from ccari.web.security import hash_password, hash_token

log = logging.getLogger(__name__)

PbxListener = Callable[[], Awaitable[str]]


class Provisioning:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock  # what "open now" means in the hours' answer
        # Set once the PBX exists (ccari with Asterisk; ``ccari admin`` syncs on its own).
        self.pbx: PbxListener | None = None
        self.route_listeners: list[Callable[[], None]] = []

    # ---- after a change -----------------------------------------------------------------------
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

    # ---- tenants ------------------------------------------------------------------------------
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

    async def update_tenant(self, actor: str, slug: str, spec: sch.TenantSpec) -> dict[str, Any]:
        async with self._sessions() as s:
            t = await _tenant(s, slug)
            if spec.slug != t.slug:
                raise Conflict("a tenant's slug does not change", error_id="slug-fixed")
            before = views.tenant(t)
            t.name = spec.name
            self._audit(s, actor, t, "tenant", t.slug, "update", before, views.tenant(t))
            await s.commit()
            return views.tenant(t)

    async def apply(self, actor: str, doc: sch.TenantDocument,
                    *, create: bool = False) -> tuple[dict[str, Any], str | None, str]:
        """Create or update a whole tenant from a document (what it does not name stays);
        returns the document now, the API token when the tenant is new, and the PBX result."""
        async with self._sessions() as s:
            t, token = await self.apply_in(s, actor, doc, create=create)
            await s.commit()
            result = await views.document(s, t)
        pbx = await self._changed(pbx=bool(doc.numbers or doc.agents))
        return result, token, pbx

    async def apply_in(self, s: AsyncSession, actor: str, doc: sch.TenantDocument,
                       *, create: bool = False) -> tuple[Tenant, str | None]:
        """``apply`` within the caller's transaction (the demo seed's), who commits and
        reloads the PBX; the tenant and its API token when it is new."""
        token = None
        t = await s.scalar(select(Tenant).where(Tenant.slug == doc.tenant.slug))
        if t is None:
            if not create:
                raise NotFound(f"no tenant {doc.tenant.slug!r}", error_id="tenant-not-found")
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

    # ---- queues -------------------------------------------------------------------------------
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
        q = await _queue(s, t, spec.name, None)
        before = views.queue(q) if q is not None else None
        if q is None:
            q = Queue(tenant_id=t.id, name=spec.name)
            s.add(q)
        q.ring_timeout_s, q.wrap_up_s = spec.ring_timeout_s, spec.wrap_up_s
        q.announce_every_s = spec.announce_every_s
        await s.flush()
        after = views.queue(q)
        if after != before:
            self._audit(s, actor, t, "queue", q.name, "update" if before else "create", before, after)
        return q

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

    # ---- numbers ------------------------------------------------------------------------------
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

    # ---- agents -------------------------------------------------------------------------------
    async def agents(self, tenant_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as s:
            rows = await s.scalars(select(Agent).where(Agent.tenant_id == tenant_id)
                                   .order_by(Agent.username))
            return [await views.agent(s, a) for a in rows]

    async def agent(self, tenant_id: int, username: str) -> dict[str, Any]:
        async with self._sessions() as s:
            return await views.agent(s, await _agent(s, tenant_id, username))

    async def create_agent(self, actor: str, tenant_id: int,
                           spec: sch.AgentSpec) -> tuple[dict[str, Any], str]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            if await _agent_or_none(s, tenant_id, spec.username) is not None:
                raise Conflict(f"agent {spec.username!r} exists", error_id="agent-exists")
            a = await self._put_agent(s, actor, t, spec)
            await s.commit()
            view = await views.agent(s, a)
        return view, await self._changed(pbx=True)

    async def update_agent(self, actor: str, tenant_id: int, username: str,
                           spec: sch.AgentSpec) -> tuple[dict[str, Any], str]:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            a = await _agent(s, tenant_id, username)
            phone = (a.phone_username, a.phone_password, a.phone_contact, a.device)
            a = await self._put_agent(s, actor, t, replace(spec, username=username))
            await s.commit()
            view = await views.agent(s, a)
        return view, await self._changed(
            pbx=phone != (a.phone_username, a.phone_password, a.phone_contact, a.device))

    async def delete_agent(self, actor: str, tenant_id: int, username: str) -> str:
        async with self._sessions() as s:
            t = await _tenant_by_id(s, tenant_id)
            a = await _agent(s, tenant_id, username)
            if a.presence != "logged_out":
                raise Conflict(f"agent {username!r} is logged in: log them out first",
                               error_id="agent-logged-in")
            self._audit(s, actor, t, "agent", a.username, "delete", await views.agent(s, a), None)
            await s.delete(a)
            await s.commit()
        return await self._changed(pbx=True)

    async def _put_agent(self, s: AsyncSession, actor: str, t: Tenant,
                         spec: sch.AgentSpec) -> Agent:
        a = await _agent_or_none(s, t.id, spec.username)
        other = await s.scalar(select(Agent).where(Agent.phone_username == spec.phone_username))
        if other is not None and other is not a:
            raise Conflict(f"phone {spec.phone_username!r} belongs to another agent",
                           error_id="phone-taken")
        before = await views.agent(s, a) if a is not None else None
        if a is None:
            if spec.web_password is None:
                raise sch.Invalid("a new agent needs a web password")
            a = Agent(tenant_id=t.id, username=spec.username, password_hash="", skills=[])
            s.add(a)
        if spec.web_password is not None:
            a.password_hash = hash_password(spec.web_password)
        a.display_name, a.role, a.slots = spec.name, spec.role, dict(spec.slots)
        a.phone_username, a.phone_password = spec.phone_username, spec.phone_password
        a.phone_contact, a.device = spec.phone_contact, spec.device
        a.site_id = (await _site(s, t, spec.site)).id if spec.site else None
        if before is not None and a.skills:  # the old rows go first: (agent, name, value) is unique
            a.skills.clear()
            await s.flush()
        a.skills = [AgentSkill(name=k.name, value=k.value, proficiency=k.level)
                    for k in spec.skills]
        await s.flush()
        after = await views.agent(s, a)
        if spec.web_password is not None:  # the password itself is never recorded
            after["web_password"] = "set"
        if after != before:
            self._audit(s, actor, t, "agent", a.username, "update" if before else "create",
                        before, after)
        return a

    # ---- IVR menus ----------------------------------------------------------------------------
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

    # ---- the audit log ------------------------------------------------------------------------
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
