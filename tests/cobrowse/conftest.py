"""Co-browse tests: a seeded runtime without PBX, both listeners on loopback, agents' pages.

A "webhelp" contact stands for the contact a co-browse session belongs to (a chat or call in
production): it is routed by the real queue and offered through the real page offers; the
demo agents get a webhelp slot for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.public.models import TenantSite
from ccari.storage.models import Agent, Contact, Customer, Tenant
from tests.support.agent_web import AgentPage, open_agent_page

MEDIUM = "webhelp"


@dataclass
class Env:
    rt: Runtime
    internal: TestServer
    public: TestServer
    secrets: dict[str, Any]
    tenants: dict[str, int]
    ada: int

    @property
    def internal_url(self) -> str:
        return str(self.internal.make_url("")).rstrip("/")

    @property
    def public_url(self) -> str:
        return str(self.public.make_url("")).rstrip("/")

    async def agent(self, user: str, tenant: str = "acme", ready: bool = True) -> AgentPage:
        page = await open_agent_page(self.internal_url, tenant, user,
                                     self.secrets[f"{tenant}.{user}.web"])
        if ready:
            assert (await page.presence("ready"))["state"] == "ready"
        return page

    def token(self, tenant: str = "acme") -> str:
        return self.rt.tokens.issue(self.tenants[tenant])[0]

    async def customer_ws(self, token: str | None = None, *, origin: str | None = None,
                          session: str | None = None) -> aiohttp.ClientWebSocketResponse:
        query = {"token": token or self.token()}
        if session:
            query["session"] = session
        http = aiohttp.ClientSession()
        try:
            ws = await http.ws_connect(self.public.make_url("/v1/cobrowse/ws").with_query(query),
                                       headers={"Origin": origin or self.public_url})
        except BaseException:
            await http.close()
            raise
        ws._ccari_http = http  # type: ignore[attr-defined]  # closed by close_ws
        return ws


async def close_ws(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._ccari_http.close()  # type: ignore[attr-defined]


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 10) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(within):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket closed waiting for {kind}: {msg}")
            data = msg.json()
            if data.get("type") == kind:
                return data  # type: ignore[no-any-return]


async def add_site(rt: Runtime, tenant_id: int, origin: str) -> None:
    async with rt.sessions() as s:
        site = await s.get(TenantSite, tenant_id)
        assert site is not None
        site.origins = [*site.origins, origin]
        await s.commit()
    rt.origins._cache.clear()  # the 10 s cache: a tenant admin's change, seen at once here


async def offered_contact(env: Env, page: AgentPage, *, tenant: str = "acme",
                          customer: int | None = None, accept: bool = True) -> str:
    """A webhelp contact routed to the agent of ``page`` (accepted unless ``accept=False``)."""
    now = dt.datetime.now(dt.UTC)
    async with env.rt.sessions() as s:
        contact = await contacts_repo.create(
            s, tenant_id=env.tenants[tenant], medium=MEDIUM, state="queued", arrived_at=now,
            queued_at=now, customer_id=customer, meta={"page_url": "http://shop/cart"})
        await s.commit()
    await env.rt.queue.enqueue(contact)
    offer = await receive(page.ws, "offer")
    assert offer["contact"]["id"] == contact.id
    if accept:
        await page.ws.send_json({"type": "accept", "contact_id": contact.id})
        await receive(page.ws, "connected")
    return contact.id


async def contact_state(rt: Runtime, contact_id: str) -> str:
    async with rt.sessions() as s:
        return str(await s.scalar(select(Contact.state).where(Contact.id == contact_id)))


@pytest.fixture
async def env(cfg, sessions, aiohttp_server) -> AsyncIterator[Env]:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        sec = await seed(s, cfg)
        for agent in await s.scalars(select(Agent)):
            agent.slots = {"per_medium": {"voice": 1, "chat": 3, "email": 2, MEDIUM: 1}, "total": 3,
                           "exclusive": ["voice"]}
        await s.commit()
        tenants = {t.slug: t.id for t in await s.scalars(select(Tenant))}
        ada = await s.scalar(select(Customer.id).where(Customer.name == "Ada Lovelace"))
    async with runtime(cfg, with_pbx=False) as rt:
        assert rt.offers is not None
        rt.offers.register_medium(MEDIUM)
        internal = await aiohttp_server(internal_app(rt))
        public = await aiohttp_server(public_app(rt))
        for tenant_id in tenants.values():  # the public listener's own origin: the demo site
            await add_site(rt, tenant_id, str(public.make_url("")).rstrip("/"))
        yield Env(rt, internal, public, sec, tenants, int(ada or 0))
