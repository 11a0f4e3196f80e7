"""Idempotent demo data and the machine-readable manifest ``var/demo.json``.

Two tenants share the PBX.  ``acme`` has a two-option IVR (1 sales, 2 support), two agents
with different skills at two sites, and a gold customer with an open ticket; ``globex`` has
one agent and no IVR.  Passwords and tokens are generated once and kept in
``var/demo-secrets.json`` (0600) so the manifest stays valid across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.callbacks import demo as callbacks_demo
from ccari.config import Config
from ccari.crm import entitlements as crm_entitlements
from ccari.email import demo as email_demo
from ccari.public.models import TenantSite
from ccari.storage.models import (
    Agent,
    AgentSkill,
    Customer,
    CustomerPhone,
    IvrMenu,
    IvrOption,
    Number,
    Queue,
    Site,
    Tenant,
    TroubleTicket,
)
from ccari.web.security import hash_password, hash_token


@dataclass(frozen=True)
class DemoAgent:
    username: str
    name: str
    site: str
    skills: dict[str, str]
    role: str = "agent"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    did: str
    agents: tuple[DemoAgent, ...]
    ivr: dict[str, dict[str, str]] = field(default_factory=dict)


DEMO = (
    DemoTenant(
        "acme", "Acme Broadband", "15550100",
        (DemoAgent("alice", "Alice Sales", "London",
                   {"skill": "sales", "language": "en", "tier": "gold"}),
         DemoAgent("bob", "Bob Support", "Leeds",
                   {"skill": "support", "language": "en", "tier": "gold"}),
         DemoAgent("sam", "Sam Supervisor", "London", {"skill": "support"}, role="supervisor")),
        ivr={"1": {"skill": "sales"}, "2": {"skill": "support"}},
    ),
    DemoTenant(
        "globex", "Globex Energy", "15550200",
        (DemoAgent("carol", "Carol Service", "Springfield", {"skill": "service"}),),
    ),
)
CUSTOMER = {"name": "Ada Lovelace", "number": "15550199", "email": "ada@example.com",
            "entitlements": [{"service": "broadband", "level": "gold"}],
            "ticket": "Router drops the line every evening"}


def _secrets(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "demo-secrets.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for t in DEMO:
        key = f"{t.slug}.token"
        if key not in data:
            data[key], changed = secrets.token_urlsafe(24), True
        for a in t.agents:
            for kind in ("web", "sip"):
                key = f"{t.slug}.{a.username}.{kind}"
                if key not in data:
                    data[key], changed = secrets.token_urlsafe(12), True
    if changed:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
    return data


async def seed(
    session: AsyncSession, cfg: Config, phone_contacts: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create what is missing of the demo; returns the secrets.  The caller commits."""
    sec = _secrets(cfg.state_path)
    phone_contacts = phone_contacts or {}
    for t in DEMO:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == t.slug))
        if tenant is None:
            tenant = Tenant(slug=t.slug, name=t.name, trunk_ratio=1.5, after_hours_trunks=3)
            session.add(tenant)
            await session.flush()
        tenant.api_token_hash = hash_token(sec[f"{t.slug}.token"])
        queue = await session.scalar(select(Queue).where(Queue.tenant_id == tenant.id))
        if queue is None:
            queue = Queue(tenant_id=tenant.id, name="main", ring_timeout_s=15, wrap_up_s=5,
                          announce_every_s=30)
            session.add(queue)
        menu = await session.scalar(select(IvrMenu).where(IvrMenu.tenant_id == tenant.id))
        if menu is None and t.ivr:
            menu = IvrMenu(tenant_id=tenant.id, name="main", prompt="welcome",
                           invalid_prompt="invalid-option", timeout_s=cfg.voice.ivr_timeout_s,
                           max_tries=cfg.voice.ivr_max_tries,
                           default_attributes={"skill": "support"})
            menu.options = [IvrOption(digit=d, label=a["skill"], attributes=a)
                            for d, a in t.ivr.items()]
            session.add(menu)
        await session.flush()
        number = await session.scalar(select(Number).where(Number.did == t.did))
        if number is None:
            session.add(Number(tenant_id=tenant.id, did=t.did, queue_id=queue.id,
                               ivr_menu_id=menu.id if menu else None))
        for a in t.agents:
            await _agent(session, tenant, t, a, sec, phone_contacts)
        if t.slug == "acme":
            await _customer(session, tenant)
            await crm_entitlements.seed_demo(session, tenant.id)  # gold customers -> tier=gold
        if await session.get(TenantSite, tenant.id) is None:
            w = cfg.web
            public = (w.public_base_url or f"http://{w.public_host}:{w.public_port}").rstrip("/")
            session.add(TenantSite(tenant_id=tenant.id, origins=[public]))
    await email_demo.seed(session)
    await callbacks_demo.seed_callbacks(session)
    return sec


async def _agent(session: AsyncSession, tenant: Tenant, t: DemoTenant, a: DemoAgent,
                 sec: dict[str, Any], phone_contacts: dict[str, str]) -> None:
    site = await session.scalar(
        select(Site).where(Site.tenant_id == tenant.id, Site.name == a.site))
    if site is None:
        site = Site(tenant_id=tenant.id, name=a.site)
        session.add(site)
        await session.flush()
    phone = f"{t.slug}-{a.username}"
    agent = await session.scalar(
        select(Agent).where(Agent.tenant_id == tenant.id, Agent.username == a.username))
    if agent is None:
        agent = Agent(tenant_id=tenant.id, username=a.username, display_name=a.name,
                      password_hash=hash_password(sec[f"{t.slug}.{a.username}.web"]),
                      phone_username=phone, phone_password=sec[f"{t.slug}.{a.username}.sip"],
                      site_id=site.id, role=a.role,
                      slots={"per_medium": {"voice": 1, "chat": 3, "email": 2, "voicemail": 1},
                             "total": 3,
                             "exclusive": ["voice"]})
        agent.skills = [AgentSkill(name=k, value=v, proficiency=5) for k, v in a.skills.items()]
        session.add(agent)
    agent.phone_contact = phone_contacts.get(phone)


async def _customer(session: AsyncSession, tenant: Tenant) -> None:
    found = await session.scalar(
        select(CustomerPhone).where(CustomerPhone.tenant_id == tenant.id,
                                    CustomerPhone.number == CUSTOMER["number"]))
    if found is not None:
        return
    customer = Customer(tenant_id=tenant.id, name=CUSTOMER["name"], email=CUSTOMER["email"],
                        entitlements=CUSTOMER["entitlements"])
    customer.phones = [CustomerPhone(tenant_id=tenant.id, number=CUSTOMER["number"])]
    customer.tickets = [TroubleTicket(tenant_id=tenant.id, subject=CUSTOMER["ticket"])]
    session.add(customer)


def manifest(cfg: Config, sec: dict[str, Any]) -> dict[str, Any]:
    p, w = cfg.pbx, cfg.web
    internal = w.internal_base_url or f"http://{w.internal_host}:{w.internal_port}"
    public = w.public_base_url or f"http://{w.public_host}:{w.public_port}"
    sip = {"host": p.host, "port": p.sip_port, "transport": "udp"}
    return {
        "sip": sip,
        "carrier": {
            "how": "send INVITE to sip:<did>@{host}:{port} over UDP from one of the source "
                   "addresses below (the carrier trunk is identified by IP, no auth)",
            "source_addresses": list(p.carrier_match),
            **sip,
        },
        "web": {"internal_url": internal, "agent_login_url": f"{internal}/agent/login",
                "supervisor_url": f"{internal}/supervisor", "public_url": public,
                "demo_site_url": f"{public}/demo/acme/",
                "widget_tag": f'<script src="{public}/widget.js" data-tenant="acme" defer></script>',
                "api_url": f"{internal}/api"},
        "admin_token": cfg.admin_token,
        "tenants": [
            {
                "slug": t.slug, "name": t.name, "api_token": sec[f"{t.slug}.token"],
                "numbers": [{"did": t.did, "uri": f"sip:{t.did}@{p.host}:{p.sip_port}"}],
                "ivr": [{"digit": d, "selects": a} for d, a in t.ivr.items()],
                "agents": [
                    {"username": a.username, "name": a.name, "site": a.site, "role": a.role,
                     "skills": a.skills, "web_password": sec[f"{t.slug}.{a.username}.web"],
                     "sip_username": f"{t.slug}-{a.username}",
                     "sip_password": sec[f"{t.slug}.{a.username}.sip"],
                     "sip_registrar": f"sip:{p.host}:{p.sip_port}"}
                    for a in t.agents
                ],
            }
            for t in DEMO
        ],
        "email": email_demo.manifest(cfg),
        "callbacks": callbacks_demo.manifest(cfg.callbacks.outbound_host(cfg.pbx)),
        "customers": [{"tenant": "acme", "name": CUSTOMER["name"],
                       "number": CUSTOMER["number"]}],
    }


def write_manifest(cfg: Config, sec: dict[str, Any]) -> Path:
    path = cfg.state_path / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(manifest(cfg, sec), fh, indent=2)
    return path
