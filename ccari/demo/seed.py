"""Idempotent demo data and the machine-readable manifest ``var/demo.json``.

Two tenants share the PBX.  ``acme`` has a two-option IVR (1 sales, 2 support), two agents
with different skills at two sites, a supervisor, a video agent (vera: her phone is the agent
page and she has a video slot, so the help widget offers video calls while she is ready) and
a gold customer with an open ticket; ``globex`` has one agent and no IVR.  Passwords and
tokens are generated once and kept in ``var/demo-secrets.json`` (0600) so the manifest stays
valid across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.devices import BROWSER
from ccari.callbacks import demo as callbacks_demo
from ccari.config import Config
from ccari.crm import entitlements as crm_entitlements
from ccari.crm import schemas as crm_schemas
from ccari.crm import services as crm_services
from ccari.email import demo as email_demo
from ccari.provisioning import schemas as sch
from ccari.provisioning.services import Provisioning
from ccari.public.models import TenantSite
from ccari.storage.models import Agent, CustomerPhone, Tenant, TroubleTicket
from ccari.web.security import hash_token


@dataclass(frozen=True)
class DemoAgent:
    username: str
    name: str
    site: str
    skills: dict[str, str]
    role: str = "agent"
    # "browser": her phone is the agent page (no SIP phone), with a video slot besides.
    device: str = "sip"


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
         DemoAgent("sam", "Sam Supervisor", "London", {"skill": "support"}, role="supervisor"),
         DemoAgent("vera", "Vera Video", "London", {"skill": "sales", "language": "en"},
                   device="browser")),
        ivr={"1": {"skill": "sales"}, "2": {"skill": "support"}},
    ),
    DemoTenant(
        "globex", "Globex Energy", "15550200",
        (DemoAgent("carol", "Carol Service", "Springfield", {"skill": "service"}),),
    ),
)
SLOTS = {"per_medium": {"voice": 1, "chat": 3, "email": 2, "voicemail": 1,
                        callbacks_demo.SLOT: 1},
         "total": 3, "exclusive": ["voice", callbacks_demo.SLOT]}
# A browser phone agent's: video calls from the help widget besides (a call is handled
# alone, voice or video).
VIDEO_SLOTS = {"per_medium": {"voice": 1, "video": 1, "chat": 3, "email": 2, "voicemail": 1,
                              callbacks_demo.SLOT: 1},
               "total": 3, "exclusive": ["voice", callbacks_demo.SLOT]}
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


def document(t: DemoTenant, sec: Mapping[str, Any], cfg: Config,
             phone_contacts: Mapping[str, str]) -> dict[str, Any]:
    """A demo tenant as the provisioning model takes it (``PUT /api/tenants/{slug}``)."""
    doc: dict[str, Any] = {
        "tenant": {"slug": t.slug, "name": t.name},
        "numbers": [{"did": t.did, **({"menu": "main"} if t.ivr else {})}],
        "agents": [
            {"username": a.username, "name": a.name, "site": a.site, "role": a.role,
             "skills": [{"name": k, "value": v, "level": 5} for k, v in a.skills.items()],
             "slots": VIDEO_SLOTS if a.device == BROWSER else SLOTS, "device": a.device,
             "phone_username": f"{t.slug}-{a.username}",
             "phone_password": sec[f"{t.slug}.{a.username}.sip"],
             "web_password": sec[f"{t.slug}.{a.username}.web"],
             **({"phone_contact": contact}
                if a.device != BROWSER
                and (contact := phone_contacts.get(f"{t.slug}-{a.username}")) else {})}
            for a in t.agents
        ],
    }
    if t.ivr:
        doc["menus"] = [{"name": "main", "prompt": callbacks_demo.IVR_PROMPT,
                         "invalid_prompt": "invalid-option",
                         "timeout_s": cfg.voice.ivr_timeout_s,
                         "max_tries": cfg.voice.ivr_max_tries, "default": {"skill": "support"},
                         "options": [*({"digit": d, "label": a["skill"], "attributes": a}
                                       for d, a in t.ivr.items()), callbacks_demo.IVR_OPTION]}]
    return doc


async def seed(
    session: AsyncSession, cfg: Config, phone_contacts: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create what is missing of the demo; returns the secrets.  The caller commits (and
    reloads the PBX).

    The tenants, numbers, IVR menus and agents go through the provisioning model (the API's
    parsers and service, audited as ``demo``); the customer, the tenant's web site and the
    e-mail and callback demos are not part of that model and are written here."""
    sec = _secrets(cfg.state_path)
    provisioning = Provisioning(async_sessionmaker(session.bind))  # only apply_in is used
    for t in DEMO:
        # Through the API's parsers; an agent that exists keeps its web password (no
        # "password set" in the audit log at every start).
        data = document(t, sec, cfg, phone_contacts or {})
        known = set(await session.scalars(
            select(Agent.username).join(Tenant).where(Tenant.slug == t.slug)))
        agents = []
        for i, a in enumerate(data.pop("agents")):
            if a["username"] in known:
                del a["web_password"]
            agents.append(sch.agent(a, f"agents[{i}]", new=a["username"] not in known))
        doc = replace(sch.document(data), agents=tuple(agents))
        sch.check_document(doc)
        tenant, token = await provisioning.apply_in(session, "demo", doc, admin=True)
        if token is not None:  # new: the demo's trunk rule
            tenant.trunk_ratio, tenant.after_hours_trunks = 1.5, 3
        tenant.api_token_hash = hash_token(sec[f"{t.slug}.token"])
        if t.slug == "acme":
            await _customer(session, tenant)
            await crm_entitlements.seed_demo(session, tenant.id)  # gold customers -> tier=gold
        if await session.get(TenantSite, tenant.id) is None:
            w = cfg.web
            public = (w.public_base_url or f"{w.scheme}://{w.public_host}:{w.public_port}").rstrip("/")
            # Talk now is off by default in the product; the demo's acme offers it.
            session.add(TenantSite(tenant_id=tenant.id, origins=[public],
                                   talk_now=t.slug == "acme"))
    await email_demo.seed(session)
    await callbacks_demo.seed_callbacks(session)
    return sec


async def _customer(session: AsyncSession, tenant: Tenant) -> None:
    found = await session.scalar(
        select(CustomerPhone).where(CustomerPhone.tenant_id == tenant.id,
                                    CustomerPhone.number == CUSTOMER["number"]))
    if found is not None:
        return
    # Through the admins' model (checked, audited), as an import or the API would.
    spec = crm_schemas.customer({"name": CUSTOMER["name"], "email": CUSTOMER["email"],
                                 "phones": [CUSTOMER["number"]],
                                 "entitlements": CUSTOMER["entitlements"]})
    customer = await crm_services.create_in(session, "demo", tenant, spec)
    # (Trouble tickets come from the CRM's own system: no API of ccari's writes them.)
    customer.tickets.append(TroubleTicket(tenant_id=tenant.id, customer_id=customer.id,
                                          subject=CUSTOMER["ticket"]))


def manifest(cfg: Config, sec: dict[str, Any]) -> dict[str, Any]:
    p, w = cfg.pbx, cfg.web
    internal = w.internal_base_url or f"{w.scheme}://{w.internal_host}:{w.internal_port}"
    public = w.public_base_url or f"{w.scheme}://{w.public_host}:{w.public_port}"
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
                     "skills": a.skills, "device": a.device,
                     "web_password": sec[f"{t.slug}.{a.username}.web"],
                     "sip_username": f"{t.slug}-{a.username}",
                     "sip_password": sec[f"{t.slug}.{a.username}.sip"],
                     "sip_registrar": cfg.phone_registrar}
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
