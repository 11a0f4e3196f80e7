"""Rows as the provisioning model shows them: the API's JSON, the audit log's before/after,
and a tenant document ``apply`` takes back.  Secrets never appear (the phone password is
write-only, the web password only hashed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.provisioning import schemas as sch
from ccari.provisioning.models import AuditEntry
from ccari.storage.models import Agent, IvrMenu, Number, Queue, Site, Tenant


def tenant(t: Tenant) -> dict[str, Any]:
    return {"slug": t.slug, "name": t.name}


def queue(q: Queue) -> dict[str, Any]:
    return {"name": q.name, "ring_timeout_s": q.ring_timeout_s, "wrap_up_s": q.wrap_up_s,
            "announce_every_s": q.announce_every_s,
            **({"greeting": q.greeting} if q.greeting else {})}


async def number(s: AsyncSession, n: Number) -> dict[str, Any]:
    q = await s.get(Queue, n.queue_id) if n.queue_id is not None else None
    m = await s.get(IvrMenu, n.ivr_menu_id) if n.ivr_menu_id is not None else None
    own = {"hours": n.hours, "after_hours": n.after_hours}  # shown when set
    fax = {"purpose": "fax"} if n.purpose == "fax" else {}  # shown when not voice
    return {"did": n.did, "queue": q.name if q else None, "menu": m.name if m else None,
            **{k: v for k, v in own.items() if v is not None}, **fax}


async def agent(s: AsyncSession, a: Agent) -> dict[str, Any]:
    site = await s.get(Site, a.site_id) if a.site_id is not None else None
    return {
        "username": a.username, "name": a.display_name, "site": site.name if site else None,
        "role": a.role,
        "skills": sorted(({"name": k.name, "value": k.value, "level": k.proficiency}
                          for k in a.skills), key=lambda k: (k["name"], k["value"])),
        "slots": dict(a.slots or {}), "phone_username": a.phone_username,
        "phone_contact": a.phone_contact, "device": a.device,
    }


def menu(m: IvrMenu, menus: Mapping[int, IvrMenu]) -> dict[str, Any]:
    return {
        "name": m.name, "prompt": m.prompt, "invalid_prompt": m.invalid_prompt,
        "timeout_s": m.timeout_s, "max_tries": m.max_tries,
        "default": dict(m.default_attributes) if m.default_attributes else None,
        "options": [
            {"digit": o.digit, "label": o.label, "attributes": dict(o.attributes or {}),
             "menu": menus[o.submenu_id].name if o.submenu_id is not None
             and o.submenu_id in menus else None,
             "action": o.action}
            for o in sorted(m.options, key=lambda o: o.digit)
        ],
    }


def menu_spec(m: IvrMenu, menus: Mapping[int, IvrMenu]) -> sch.MenuSpec:
    v = menu(m, menus)
    return sch.MenuSpec(
        name=v["name"], prompt=v["prompt"], invalid_prompt=v["invalid_prompt"],
        timeout_s=v["timeout_s"], max_tries=v["max_tries"], default=v["default"],
        options=tuple(sch.OptionSpec(o["digit"], o["label"], o["attributes"], o["menu"],
                                     o["action"]) for o in v["options"]),
    )


async def document(s: AsyncSession, t: Tenant) -> dict[str, Any]:
    menus = {m.id: m for m in await s.scalars(select(IvrMenu).where(IvrMenu.tenant_id == t.id))}
    queues = await s.scalars(select(Queue).where(Queue.tenant_id == t.id).order_by(Queue.name))
    numbers = await s.scalars(select(Number).where(Number.tenant_id == t.id).order_by(Number.did))
    agents = await s.scalars(select(Agent).where(Agent.tenant_id == t.id).order_by(Agent.username))
    return {
        "tenant": tenant(t),
        "queues": [queue(q) for q in queues],
        "menus": [menu(m, menus) for m in sorted(menus.values(), key=lambda m: m.name)],
        "numbers": [await number(s, n) for n in numbers],
        "agents": [await agent(s, a) for a in agents],
        **({"hours": t.hours} if t.hours is not None else {}),
    }


def audit(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "tenant": e.tenant,
            "kind": e.kind, "key": e.key, "action": e.action, "before": e.before,
            "after": e.after}
