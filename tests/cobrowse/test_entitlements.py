"""Entitlements from the tenant's own system (HTTP lookup per tenant: URL template, timeout,
cache, fallback to the local record) and entitlement levels as required routing attributes.

The tenant's system is a real aiohttp server on loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from ccari.config import Config
from ccari.contacts import repo as contacts_repo
from ccari.crm.entitlements import (
    EntitlementLookup,
    check_template,
    parse_entitlements,
    routing_attributes,
    routing_attributes_for,
)
from ccari.crm.http import LOOKUP
from ccari.crm.reach import Reach, ReachResolver
from ccari.errors import BadRequest
from ccari.storage.models import Agent, AgentSkill, Customer
from tests.cobrowse.conftest import MEDIUM, Env, offered_contact, receive


class TenantSystem:
    """The tenant's CRM: answers per phone number; can be slow, broken or redirecting."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.mode = "ok"
        self.items: list[dict[str, Any]] = [{"service": "broadband", "level": "platinum"},
                                            {"service": "tv", "level": "basic"}]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.mode == "slow":
            await asyncio.sleep(3)
        if self.mode == "broken":
            return web.Response(status=500)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>")
        if self.mode == "redirect":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data")
        return web.json_response({"entitlements": self.items})


@pytest.fixture
def cfg(cfg: Config) -> Config:
    """A deployment whose tenants' systems may be on this host (the test's CRM is)."""
    return replace(cfg, crm=replace(cfg.crm, lookup_networks=("127.0.0.0/8",)))


@pytest.fixture
async def crm(aiohttp_server) -> AsyncIterator[tuple[TenantSystem, str]]:  # type: ignore[no-untyped-def]
    system = TenantSystem()
    app = web.Application()
    app.router.add_get("/crm/{tail:.*}", system.handle)
    server = await aiohttp_server(app)
    yield system, str(server.make_url("/crm/entitlements")).rstrip("/")


async def configure(env: Env, body: dict[str, Any], tenant: str = "acme") -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession(env.internal_url) as http:
        resp = await http.put("/api/entitlements/source", json=body,
                              headers={"Authorization": f"Bearer {env.secrets[tenant + '.token']}"})
        await resp.read()
        return resp


async def ada(env: Env) -> Customer:
    async with env.rt.sessions() as s:
        row = await s.get(Customer, env.ada)
    assert row is not None
    return row


@pytest.mark.parametrize(("template", "ok"), [
    ("https://crm.acme.example/e?phone={phone}&mail={email}&id={customer_id}", True),
    ("http://10.0.0.5:8080/customers/{customer_id}/entitlements", True),
    ("ftp://crm.acme.example/{phone}", False),
    ("https://crm.acme.example/{ssn}", False),
    ("https://crm.acme.example/{phone", False),
    ("{phone}", False),
])
def test_url_templates(template: str, ok: bool) -> None:
    if ok:
        assert check_template(template) == template
    else:
        with pytest.raises(BadRequest):
            check_template(template)


@pytest.mark.parametrize(("body", "expected"), [
    ([{"service": "tv", "level": "gold"}], [{"service": "tv", "level": "gold"}]),
    ({"entitlements": [{"service": "tv", "seats": 3}]}, [{"service": "tv", "seats": "3"}]),
    ([{"service": "tv", "nested": {"x": 1}}], [{"service": "tv"}]),
    ({"other": []}, ValueError),
    (["gold"], ValueError),
    ([{}] * 51, ValueError),
])
def test_answers_of_the_tenants_system(body: Any, expected: Any) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError):
            parse_entitlements(body)
    else:
        assert parse_entitlements(body) == expected


@pytest.mark.parametrize(("levels", "expected"), [
    (["gold"], {"tier": "gold"}),
    (["platinum", "gold"], {"tier": "gold"}),
    (["silver"], {}),
    ([], {}),
])
def test_levels_that_become_routing_attributes(levels: list[str], expected: dict[str, str]) -> None:
    held = [{"service": "broadband", "level": "gold"}, {"service": "tv", "level": "basic"}]
    assert routing_attributes(held, levels, "tier") == expected


async def test_lookup_uses_the_template_caches_and_falls_back_to_the_local_record(env: Env, crm) -> None:
    system, url = crm
    resp = await configure(env, {"url_template": url + "?phone={phone}&email={email}", "timeout_s": 0.3,
                                 "cache_ttl_s": 60, "auth_header": "Bearer crm-secret"})
    assert resp.status == 200
    lookup = env.internal.app[LOOKUP]
    customer = await ada(env)
    found = await lookup.lookup(env.tenants["acme"], customer)
    assert (found.source, found.items) == ("tenant", system.items)
    sent = system.requests[0]
    assert sent.query["phone"] == "15550199" and sent.query["email"] == "ada@example.com"
    assert sent.headers["Authorization"] == "Bearer crm-secret"
    assert (await lookup.lookup(env.tenants["acme"], customer)).source == "tenant"
    assert len(system.requests) == 1  # cached
    # The tenant changes the configuration: the cache is dropped, its system asked again.
    for mode in ("slow", "broken", "garbage", "redirect"):
        assert (await configure(env, {"cache_ttl_s": 0})).status == 200
        system.mode = mode
        started = asyncio.get_running_loop().time()
        found = await lookup.lookup(env.tenants["acme"], customer)
        assert (found.source, found.items) == ("fallback", [{"service": "broadband", "level": "gold"}]), mode
        assert asyncio.get_running_loop().time() - started < 1.5, mode
    # The global admin's GET shows the settings but never the secret header.
    async with aiohttp.ClientSession(env.internal_url) as http:
        got = await (await http.get("/api/entitlements/source?tenant=acme", headers={
            "Authorization": f"Bearer {env.rt.config.admin_token}"})).json()
    assert got["auth_header_set"] is True and "crm-secret" not in str(got)
    assert got["url_template"].startswith(url)


async def test_cache_lifetime_and_tenant_isolation(env: Env, crm) -> None:
    system, url = crm
    assert (await configure(env, {"url_template": url + "/{customer_id}", "cache_ttl_s": 30})).status == 200
    now = [1000.0]
    async with aiohttp.ClientSession() as http:
        lookup = EntitlementLookup(env.rt.sessions, http, clock=lambda: now[0])
        customer = await ada(env)
        for _ in range(3):
            await lookup.lookup(env.tenants["acme"], customer)
        assert len(system.requests) == 1 and system.requests[0].path.endswith(f"/{customer.id}")
        now[0] += 31
        await lookup.lookup(env.tenants["acme"], customer)
        assert len(system.requests) == 2
        # Another tenant's lookup of this customer gets nothing (and asks nobody).
        assert (await lookup.lookup(env.tenants["globex"], customer)).items == []
        assert len(system.requests) == 2
    async with aiohttp.ClientSession(env.internal_url) as http:
        auth = {"Authorization": f"Bearer {env.secrets['acme.token']}"}
        for body, error in [({"url_template": "ftp://x/{phone}"}, "bad-url-template"),
                            ({"timeout_s": 60}, "bad-timeout-s"),
                            ({"routing_levels": "gold"}, "bad-routing-levels"),
                            ({"auth_header": "a\r\nX-Evil: 1"}, "bad-auth-header")]:
            resp = await http.put("/api/entitlements/source", json=body, headers=auth)
            assert (resp.status, (await resp.json())["error"]) == (400, error)


async def test_a_tenants_lookup_never_reaches_inside_addresses_the_admin_did_not_name(
        env: Env, crm) -> None:
    """Not by an address in the URL, not by a name that resolves to one: the lookup falls
    back to the local record and the inside system is never asked."""
    system, url = crm
    port = url.split(":")[2].split("/")[0]
    customer = await ada(env)
    guarded = Reach()  # a deployment that names no inside network
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            resolver=ReachResolver(guarded))) as http:
        lookup = EntitlementLookup(env.rt.sessions, http, reach=guarded)
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
            assert (await configure(env, {
                "url_template": f"http://{host}:{port}/crm/entitlements?phone={{phone}}",
                "cache_ttl_s": 0})).status == 200  # this node's networks allow loopback
            lookup.invalidate(env.tenants["acme"])
            found = await lookup.lookup(env.tenants["acme"], customer)
            assert found.source == "fallback", host
        assert system.requests == []
        # With the host's network named, the same system answers.
        lookup.reach = Reach(["127.0.0.0/8"])
        lookup.invalidate(env.tenants["acme"])
        assert (await configure(env, {"url_template": url + "?phone={phone}"})).status == 200
        assert (await lookup.lookup(env.tenants["acme"], customer)).source == "tenant"
    # An inside address written in the URL is refused when it is set.
    async with aiohttp.ClientSession(env.internal_url) as http:
        resp = await http.put("/api/entitlements/source", json={
            "url_template": "http://169.254.169.254/latest/meta-data?phone={phone}"},
            headers={"Authorization": f"Bearer {env.secrets['acme.token']}"})
        body = await resp.json()
        assert (resp.status, body["error"]) == (400, "bad-url-template")
        assert "169.254.169.254 is not a public address" in body["message"]


async def test_agent_page_gets_the_tenants_entitlements_for_its_own_contacts_only(env: Env, crm) -> None:
    system, url = crm
    assert (await configure(env, {"url_template": url + "?phone={phone}"})).status == 200
    alice, bob = await env.agent("alice"), await env.agent("bob")
    contact_id = await offered_contact(env, alice, customer=env.ada)
    await alice.ws.send_json({"type": "entitlements.get", "contact_id": contact_id})
    reply = await receive(alice.ws, "entitlements")
    assert reply == {"type": "entitlements", "contact_id": contact_id, "entitlements": system.items,
                     "source": "tenant"}
    await bob.ws.send_json({"type": "entitlements.get", "contact_id": contact_id})
    assert (await receive(bob.ws, "error"))["error"] == "contact-not-found"
    await alice.close()
    await bob.close()


async def test_routing_attributes_for_a_customer(env: Env, crm) -> None:
    system, url = crm
    acme = env.tenants["acme"]
    # The demo routes gold customers; a tenant that routes no level adds nothing.
    assert (await configure(env, {"routing_levels": []})).status == 200
    async with env.rt.sessions() as s:
        assert await routing_attributes_for(s, acme, env.ada) == {}
    assert (await configure(env, {"routing_levels": ["platinum", "gold"]})).status == 200
    customer = await ada(env)
    async with env.rt.sessions() as s:
        assert await routing_attributes_for(s, acme, env.ada) == {"tier": "gold"}
        assert await routing_attributes_for(s, acme, customer) == {"tier": "gold"}
        assert await routing_attributes_for(s, acme, None) == {}
        assert await routing_attributes_for(s, env.tenants["globex"], env.ada) == {}
    assert (await configure(env, {"url_template": url + "?phone={phone}"})).status == 200
    async with env.rt.sessions() as s:
        remote = await routing_attributes_for(s, acme, env.ada, env.internal.app[LOOKUP])
    assert remote == {"tier": "platinum"}  # the tenant's system knows better


async def test_a_gold_contact_is_never_offered_to_a_non_gold_agent(env: Env) -> None:
    assert (await configure(env, {"routing_levels": ["gold"]})).status == 200
    async with env.rt.sessions() as s:  # bob: gold; alice: no tier (whatever the demo seeds)
        for agent in await s.scalars(select(Agent).where(Agent.tenant_id == env.tenants["acme"])):
            has_gold = any((k.name, k.value) == ("tier", "gold") for k in agent.skills)
            if agent.username != "bob":
                agent.skills = [k for k in agent.skills if k.name != "tier"]
            elif not has_gold:
                agent.skills.append(AgentSkill(name="tier", value="gold", proficiency=5))
        await s.commit()
    alice = await env.agent("alice")  # sales, no tier
    now = dt.datetime.now(dt.UTC)
    async with env.rt.sessions() as s:
        attrs = await routing_attributes_for(s, env.tenants["acme"], env.ada)
        contact = await contacts_repo.create(
            s, tenant_id=env.tenants["acme"], medium=MEDIUM, state="queued", arrived_at=now,
            queued_at=now, customer_id=env.ada, attributes=attrs)
        await s.commit()
    assert attrs == {"tier": "gold"}
    await env.rt.queue.enqueue(contact)
    assert await _state(env, contact.id) == "queued"  # alice is ready and free, yet not offered
    page = await env.agent("bob", ready=False)
    await page.ws.send_json({"type": "presence", "presence": "ready"})
    offer = await receive(page.ws, "offer")
    assert offer["contact"]["id"] == contact.id
    assert {"service": "broadband", "level": "gold"} in offer["contact"]["customer"]["entitlements"]
    # Everything alice's page got meanwhile (up to the answer of a request sent now): no offer.
    await alice.ws.send_json({"type": "cobrowse.status", "contact_id": "barrier"})
    seen = []
    while not seen or seen[-1] != "error":
        seen.append((await alice.ws.receive_json(timeout=5))["type"])
    assert "offer" not in seen
    await alice.close()
    await page.close()


async def _state(env: Env, contact_id: str) -> str:
    async with env.rt.sessions() as s:
        row = await contacts_repo.get(s, contact_id)
    assert row is not None
    return row.state
