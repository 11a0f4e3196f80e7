"""Two tenants with an object of every kind, and a valid credential of every kind.

The fuzzing run (``bench/fuzz.py``) and the tenant-isolation table
(``tests/security/test_isolation.py``) start ccari without a PBX on the demo data, then
give each demo tenant (``acme``, ``globex``) what its routes take ids of: a voice contact,
a callback, a received fax (with its PDF), a fax sent (with its document), a stored recording (with its audio)
and a voicemail, besides the demo's agents, menus, numbers, queues and mailboxes.  Every
text of globex's objects carries :data:`MARKER`, so a body that shows it to anyone else is a
leak.

The credentials are taken the way their users take them, over HTTP: the agent logs in on the
login form (cookie + the page's CSRF token), the customer token comes from ``POST
/v1/sessions``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.admission.models import TenantRate
from ccari.app import internal_app, public_app, runtime
from ccari.callbacks.models import Callback, CallbackSettings
from ccari.config import Config
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.fax.models import Fax, FaxSend
from ccari.provisioning.models import TenantPrompt
from ccari.recording import files
from ccari.recording.models import Recording
from ccari.storage.models import Customer, CustomerPhone, IvrMenu, Tenant, utcnow
from ccari.voicemail.models import Voicemail

TENANTS = ("acme", "globex")
MARKER = "globex-private-7f3a"  # in every text of globex's objects
AGENTS = {"acme": "alice", "globex": "carol"}  # the agent who logs in, per tenant
SUPERVISOR = ("acme", "sam")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# A route's {id} -> the kind of object it names, by the route's prefix (else a contact).
ID_OF = {"/api/callbacks/": "callback", "/v1/callbacks/": "callback",
         "/api/faxes/outbound/": "fax_send", "/api/faxes/": "fax", "/agent/faxes/": "fax",
         "/supervisor/faxes/outbound/": "fax_send", "/supervisor/faxes/": "fax",
         "/admin/tenants/{tenant}/faxes/outbound/": "fax_send",
         "/admin/tenants/{tenant}/faxes/": "fax",
         "/api/recordings/": "recording", "/agent/recordings/": "recording",
         "/api/voicemails/": "voicemail",
         "/agent/voicemails/": "voicemail", "/api/customers/": "customer",
         "/admin/tenants/{tenant}/customers/": "customer"}
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00" \
      b"\x02\x00\x10\x00data\x00\x00\x00\x00"


@dataclass
class Objects:
    """One tenant's ids, by kind (what a route's path parameter names)."""

    tenant: str
    contact: str = ""
    callback: str = ""
    fax: str = ""
    fax_send: str = ""
    recording: str = ""
    voicemail: str = ""
    agent: str = ""
    menu: str = "main"
    prompt: str = "greeting"
    queue: str = "main"
    number: str = ""
    mailbox: str = ""
    customer: str = ""


    def ids(self, path: str) -> dict[str, str]:
        """What each path or query parameter naming one of this tenant's objects takes."""
        kind = next((k for prefix, k in ID_OF.items() if path.startswith(prefix)), "contact")
        return {"tenant": self.tenant, "username": self.agent, "name": self.menu,
                "did": self.number, "address": self.mailbox, "prompt": self.prompt,
                "contact_id": self.contact, "contact": self.contact, "id": getattr(self, kind)}


@dataclass
class Credentials:
    """Request headers (and the agent's cookie) of each kind of credential, for one tenant."""

    tenant_token: str
    agent_cookie: str = ""
    agent_csrf: str = ""
    supervisor_cookie: str = ""
    supervisor_csrf: str = ""
    customer_token: str = ""
    page_cookie: str = ""  # the admin pages, logged in with the tenant's token
    page_csrf: str = ""

    def headers(self, kind: str, origin: str) -> dict[str, str]:
        if kind == "tenant":
            return {"Authorization": f"Bearer {self.tenant_token}"}
        if kind == "agent":
            return {"Cookie": f"ccari_agent={self.agent_cookie}", "X-CSRF-Token": self.agent_csrf}
        if kind == "supervisor":
            return {"Cookie": f"ccari_agent={self.supervisor_cookie}",
                    "X-CSRF-Token": self.supervisor_csrf}
        if kind == "customer":
            return {"Authorization": f"Bearer {self.customer_token}", "Origin": origin}
        if kind == "tenant-page":
            return {"Cookie": f"ccari_admin={self.page_cookie}"}
        raise ValueError(kind)

    def csrf(self, kind: str) -> str:
        """The form CSRF token that goes with ``kind``'s session."""
        return {"agent": self.agent_csrf, "supervisor": self.supervisor_csrf,
                "tenant-page": self.page_csrf}.get(kind, "")


@dataclass
class World:
    admin_token: str
    objects: dict[str, Objects] = field(default_factory=dict)
    admin_page_cookie: str = ""  # the admin pages, logged in with the admin token
    admin_page_csrf: str = ""
    credentials: dict[str, Credentials] = field(default_factory=dict)
    commands: tuple[str, ...] = ()  # what the agents' pages may send over their websocket

    def headers(self, kind: str, tenant: str, origin: str) -> dict[str, str]:
        """``kind``: none, admin, tenant, agent, supervisor or customer (of ``tenant``)."""
        if kind == "none":
            return {}
        if kind == "admin":
            return {"Authorization": f"Bearer {self.admin_token}"}
        if kind == "admin-page":
            return {"Cookie": f"ccari_admin={self.admin_page_cookie}"}
        return self.credentials[tenant].headers(kind, origin)

    def csrf(self, kind: str, tenant: str) -> str:
        if kind == "admin-page":
            return self.admin_page_csrf
        return "" if kind in ("none", "admin") else self.credentials[tenant].csrf(kind)


async def populate(sessions: async_sessionmaker[AsyncSession], cfg: Config) -> World:
    """Seed the demo and give both tenants an object of every kind (committed)."""
    async with sessions() as s:
        secrets = await seed(s, cfg)
        await s.commit()
    world = World(cfg.admin_token or "")
    async with sessions() as s:
        for slug in TENANTS:
            tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
            assert tenant is not None
            world.objects[slug] = await _objects(s, cfg, tenant)
            world.credentials[slug] = Credentials(secrets[f"{slug}.token"])
        await s.commit()
    world.secrets = secrets  # type: ignore[attr-defined]
    return world


async def _objects(s: AsyncSession, cfg: Config, tenant: Tenant) -> Objects:
    text = f"{tenant.slug} {MARKER if tenant.slug == 'globex' else ''}".strip()
    now = utcnow()
    obj = Objects(tenant.slug, agent=AGENTS[tenant.slug],
                  number={"acme": "15550100", "globex": "15550200"}[tenant.slug],
                  mailbox={"acme": "support@acme.example",
                           "globex": "service@globex.example"}[tenant.slug])
    call = await contacts_repo.create(s, tenant_id=tenant.id, medium="voice", state="queued",
                                      node=cfg.node, caller_number="15550199", caller_name=text,
                                      queued_at=now)
    obj.contact = call.id
    # Both tenants may dial the US (the admin's resend of a fax goes through the outward gate).
    if await s.get(CallbackSettings, tenant.id) is None:
        s.add(CallbackSettings(tenant_id=tenant.id, allow=["+1"], deny=[]))
    if await s.scalar(select(IvrMenu).where(IvrMenu.tenant_id == tenant.id)) is None:
        s.add(IvrMenu(tenant_id=tenant.id, name=obj.menu, prompt="welcome",
                      invalid_prompt="invalid-option", timeout_s=5, max_tries=3))
    # A prompt of its own (its text names the tenant).
    s.add(TenantPrompt(tenant_id=tenant.id, name=obj.prompt, source="text", text=text,
                       seconds=0.0, sha256=hashlib.sha256(WAV).hexdigest(), audio=WAV))
    s.add(TenantRate(tenant_id=tenant.id, per_trunk_minute="0.01", per_contact={"voice": "0.05"}))
    # A callback the customer asked for (pending, tomorrow).
    cb_contact = await contacts_repo.create(s, tenant_id=tenant.id, medium="callback",
                                            state="queued", node=cfg.node, caller_name=text)
    callback = Callback(tenant_id=tenant.id, contact_id=cb_contact.id,
                        phone="+12015550" + ("199" if tenant.slug == "acme" else "188"),
                        source="web", mode="customer_first", status="pending",
                        window_end=now + dt.timedelta(hours=4),
                        next_attempt_at=now + dt.timedelta(days=1), page_url=f"https://{text}/")
    s.add(callback)
    # A received fax, settled, with its PDF on disk.
    fax_contact = await contacts_repo.create(s, tenant_id=tenant.id, medium="fax",
                                             state="queued", node=cfg.node, caller_name=text)
    fax = Fax(id=fax_contact.id, tenant_id=tenant.id, contact_id=fax_contact.id,
              channel_id=f"fax-{fax_contact.id}", status="received", sender_number="15550199",
              station_id=text[:64], pages=1, pdf_sha256=hashlib.sha256(PDF).hexdigest(),
              settled_at=now)
    s.add(fax)
    pdf = cfg.state_path / "fax" / str(tenant.id) / f"{fax.id}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(PDF)
    send = FaxSend(tenant_id=tenant.id, to_number="12015550100", pages=1, status="sent",
                   pdf_sha256=hashlib.sha256(PDF).hexdigest(), sent_by="tenant-token",
                   station_id=text[:64])
    s.add(send)
    await s.flush()
    (pdf.parent / f"out-{send.id}.pdf").write_bytes(PDF)  # the document it carried
    # A stored recording of the call, and a voicemail left by the caller.
    name = f"rec-{call.id}-1"
    path = files.relative_path(tenant.id, name)
    s.add(Recording(id=name, tenant_id=tenant.id, contact_id=call.id, node=cfg.node,
                    state="stored", started_at=now, ended_at=now, pauses=[], duration_s=0.0,
                    size=len(WAV), path=path, sha256=files.write(cfg.state_path, path, WAV)))
    vm_contact = await contacts_repo.create(s, tenant_id=tenant.id, medium="voicemail",
                                            state="queued", node=cfg.node, caller_name=text)
    s.add(Voicemail(id=vm_contact.id, tenant_id=tenant.id, call_contact_id=call.id,
                    reason="no-agent", duration_s=0.0, audio=WAV))
    # A customer of its own (the CRM record), its name naming the tenant.
    customer = Customer(tenant_id=tenant.id, name=text, email=f"{tenant.slug}@example.com",
                        entitlements=[{"service": "support", "level": text[:64]}])
    customer.phones = [CustomerPhone(tenant_id=tenant.id,
                                     number="1201555" + ("0170" if tenant.slug == "acme" else "0180"))]
    s.add(customer)
    await s.flush()
    obj.customer = str(customer.id)
    obj.callback, obj.fax, obj.fax_send, obj.recording = callback.id, fax.id, send.id, name
    obj.voicemail = vm_contact.id
    return obj


async def log_in(http: aiohttp.ClientSession, internal: str, tenant: str, user: str,
                 password: str) -> tuple[str, str]:
    """An agent's session cookie and CSRF token, from the login form."""
    async with http.get(f"{internal}/agent/login") as resp:
        match = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert match, "no CSRF field on the login page"
    async with http.post(f"{internal}/agent/login", allow_redirects=False, data={
            "csrf": match.group(1), "tenant": tenant, "username": user,
            "password": password}) as resp:
        assert resp.status == 303, await resp.text()
        cookie = resp.cookies["ccari_agent"].value
    async with http.get(f"{internal}/agent", headers={"Cookie": f"ccari_agent={cookie}"}) as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert found, "no CSRF token on the agent page"
    return cookie, found.group(1)


async def admin_page_login(internal: str, token: str) -> tuple[str, str]:
    """The admin pages' session cookie and form CSRF token for ``token`` (admin or tenant)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{internal}/admin/login") as resp:
            match = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
            assert match, "no CSRF field on the admin login page"
        async with http.post(f"{internal}/admin/login", allow_redirects=False,
                             data={"csrf": match.group(1), "token": token}) as resp:
            assert resp.status == 303, await resp.text()
            cookie = resp.cookies["ccari_admin"].value
        async with http.get(f"{internal}/admin", headers={"Cookie": f"ccari_admin={cookie}"},
                            allow_redirects=False) as resp:
            body = await resp.text()
            if resp.status == 303:  # a tenant's login goes to its own page
                async with http.get(f"{internal}{resp.headers['Location']}",
                                    headers={"Cookie": f"ccari_admin={cookie}"}) as page:
                    body = await page.text()
            found = re.search(r'name="csrf" value="([^"]+)"', body)
            assert found, "no CSRF token on the admin page"
    return cookie, found.group(1)


async def sign_in(world: World, internal: str, public: str) -> None:
    """Fill in the agents' sessions and the customers' tokens (both listeners serving)."""
    secrets: dict[str, str] = world.secrets  # type: ignore[attr-defined]

    async def login(slug: str, user: str) -> tuple[str, str]:
        # A browser of its own: the login form's CSRF token goes with its cookie.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            return await log_in(http, internal, slug, user, secrets[f"{slug}.{user}.web"])

    world.admin_page_cookie, world.admin_page_csrf = await admin_page_login(
        internal, world.admin_token)
    for slug in TENANTS:
        cred = world.credentials[slug]
        cred.page_cookie, cred.page_csrf = await admin_page_login(internal, cred.tenant_token)
        cred.agent_cookie, cred.agent_csrf = await login(slug, AGENTS[slug])
        if slug == SUPERVISOR[0]:
            cred.supervisor_cookie, cred.supervisor_csrf = await login(slug, SUPERVISOR[1])
        async with aiohttp.ClientSession() as http, http.post(f"{public}/v1/sessions", json={
                "tenant": slug, "page_url": f"{public}/demo/{slug}/"}) as resp:
            assert resp.status in (200, 201), await resp.text()
            cred.customer_token = (await resp.json())["token"]


@contextlib.asynccontextmanager
async def serving(cfg: Config, sessions: async_sessionmaker[AsyncSession],
                  aiohttp_server: Any) -> AsyncIterator[tuple[World, dict[str, str]]]:
    """The world, served by both apps on test servers (``aiohttp_server``: the conformance-
    checked fixture), signed in; yields it and the listeners' base URLs."""
    # Every request of a test comes from one address: the per-address limit of callback
    # requests would answer 429 before the credential is looked at.
    cfg = replace(cfg, callbacks=replace(cfg.callbacks, ip_burst=10_000))
    world = await populate(sessions, cfg)
    async with runtime(cfg, with_pbx=False) as rt:
        internal = await aiohttp_server(internal_app(rt))
        public = await aiohttp_server(public_app(rt))
        urls = {"internal": str(internal.make_url("")).rstrip("/"),
                "public": str(public.make_url("")).rstrip("/")}
        await sign_in(world, urls["internal"], urls["public"])
        world.commands = rt.commands.names()
        yield world, urls
