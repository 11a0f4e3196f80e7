"""A tenant's agents: skills, media slots, site, role, phone and web login.  A phone's
name is global; a change to a phone reloads Asterisk; a logged-in agent is not deleted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.contacts.repo import OPEN_STATES
from ccari.errors import Conflict
from ccari.provisioning import schemas as sch
from ccari.provisioning import views
from ccari.provisioning.base import ServiceBase, _agent, _agent_or_none, _site, _tenant_by_id
from ccari.storage.models import Agent, AgentSkill, Contact, Tenant
from ccari.web.security import hash_password, verify_password


class AgentsMixin(ServiceBase):
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
            if await s.scalar(select(Contact.id).where(
                    Contact.tenant_id == tenant_id, Contact.agent_id == a.id,
                    Contact.state.in_(OPEN_STATES)).limit(1)) is not None:
                raise Conflict(f"agent {username!r} still has work: complete or requeue it first",
                               error_id="agent-has-work")
            self._audit(s, actor, t, "agent", a.username, "delete", await views.agent(s, a), None)
            # Her past contacts stay in the tenant's history, without her.
            await s.execute(update(Contact).where(
                Contact.tenant_id == tenant_id, Contact.agent_id == a.id).values(agent_id=None))
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
            if before is not None and not verify_password(spec.web_password, a.password_hash):
                a.session_epoch += 1  # a new password: her open sessions end
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
