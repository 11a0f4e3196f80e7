"""The screen pop of a real call (SIPp through Asterisk) with entitlements from the tenant's
own system, and entitlement-based routing of a gold caller.

The tenant's system is an aiohttp server on loopback configured through the admin API
(``PUT /api/entitlements/source``); the agent's page is Chromium.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app
from ccari.config import Config
from ccari.storage.models import Agent, AgentSkill, Contact
from tests.support.browser import agent_login, chromium
from tests.support.sipp import free_tcp_port
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = [pytest.mark.pbx, pytest.mark.browser]
ADA = "15550199"


@pytest.fixture
def voice_cfg(voice_cfg: Config) -> Config:
    """A deployment whose tenants' systems may be on this host (the test's CRM is)."""
    return replace(voice_cfg, crm=replace(voice_cfg.crm, lookup_networks=("127.0.0.0/8",)))


class Crm:
    def __init__(self) -> None:
        self.phones: list[str] = []
        self.slow = False

    async def handle(self, request: web.Request) -> web.Response:
        self.phones.append(request.query.get("phone", ""))
        if self.slow:
            await asyncio.sleep(5)
        return web.json_response([{"service": "broadband", "level": "platinum"},
                                  {"service": "tv", "level": "basic"}])


@pytest.fixture
async def served(ccari: Runtime, voice_env: VoiceEnv) -> AsyncIterator[tuple[str, Crm, dict[str, Any]]]:
    """ccari's internal listener and the tenant's system, both on loopback."""
    crm = Crm()
    crm_app = web.Application()
    crm_app.router.add_get("/entitlements", crm.handle)
    runners = []
    urls = []
    for app in (internal_app(ccari), crm_app):
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_tcp_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}")
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    secrets["crm"] = urls[1]
    try:
        yield urls[0], crm, secrets
    finally:
        for runner in runners:
            await runner.cleanup()


async def configure(base: str, secrets: dict[str, Any], body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.put(f"{base}/api/entitlements/source", json=body,
                              headers={"Authorization": f"Bearer {secrets['acme.token']}"})
        assert resp.status == 200, await resp.text()


async def agent_page(browser, base: str, secrets: dict[str, Any], user: str = "alice") -> Page:  # type: ignore[no-untyped-def]
    return await agent_login(await browser.new_page(), base, user, secrets[f"acme.{user}.web"])


async def skills(rt: Runtime, username: str, add: set[tuple[str, str]]) -> None:
    """``add`` these skills to the agent and take away any other tier (the demo may seed some)."""
    async with rt.sessions() as s:
        agent = await s.scalar(select(Agent).where(Agent.username == username))
        assert agent is not None
        have = {(k.name, k.value) for k in agent.skills}
        agent.skills = [k for k in agent.skills if k.name != "tier" or (k.name, k.value) in add]
        agent.skills += [AgentSkill(name=n, value=v, proficiency=5) for n, v in add - have]
        await s.commit()


async def completed(rt: Runtime) -> bool:
    async with rt.sessions() as s:
        return (await s.scalar(select(Contact.state))) == "completed"


@pytest.mark.parametrize("tenant_system", ["answers", "too-slow"])
async def test_a_callers_screen_pop_has_the_tenants_entitlements_and_open_tickets(
    ccari: Runtime, voice_env: VoiceEnv, served, tenant_system: str
) -> None:
    base, crm, secrets = served
    crm.slow = tenant_system == "too-slow"
    await configure(base, secrets, {"url_template": secrets["crm"] + "/entitlements?phone={phone}",
                                    "timeout_s": 0.5})
    async with chromium() as browser:
        page = await agent_page(browser, base, secrets)
        async with phone(voice_env, "alice", answer_after_ms=1500):
            call = caller(voice_env, caller=ADA, digits="1", hangup_after_ms=4000)
            await call.start()
            pop = page.locator(".work-item[data-medium=voice]")
            await expect(pop.locator(".customer")).to_have_text("Ada Lovelace", timeout=20000)
            tickets = pop.locator(".tickets")
            await expect(tickets).to_contain_text("Router drops the line every evening (open)")
            entitlements = pop.locator(".entitlements li")
            if tenant_system == "answers":
                await expect(entitlements).to_have_text(["broadband · platinum", "tv · basic"])
                await expect(pop.locator(".entitlements-source")).to_have_text("from the tenant's system")
            else:
                await expect(pop.locator(".entitlements-source")).to_have_text(
                    "tenant's system unavailable: local record")
                await expect(entitlements).to_have_text(["broadband · gold"])
            await expect(pop).to_have_attribute("data-status", "connected", timeout=10000)
            result = await call.wait()
            assert result.ok, result.describe()
    assert crm.phones == [ADA]  # asked once, with the caller's number
    await eventually(lambda: completed(ccari), what="the call to complete")


async def test_a_gold_caller_is_never_offered_to_a_non_gold_agent(ccari: Runtime, voice_env: VoiceEnv,
                                                                   served) -> None:
    base, _, secrets = served
    await configure(base, secrets, {"routing_levels": ["gold"]})
    await skills(ccari, "alice", {("skill", "support"), ("tier", "gold")})
    await skills(ccari, "bob", set())  # bob: support, not gold
    await ready(ccari, "bob")  # support, not gold
    async with phone(voice_env, "bob") as wrong, phone(voice_env, "alice") as right:
        call = caller(voice_env, caller=ADA, digits="2", hangup_after_ms=9000)  # 2: support
        await call.start()

        async def waiting() -> Contact | None:
            async with ccari.sessions() as s:
                row = await s.scalar(select(Contact))
            return row if row is not None and ccari.queue.view(row.id) is not None else None

        contact = await eventually(waiting, what="the gold caller waiting in the queue")
        assert contact.attributes.get("tier") == "gold" and contact.agent_id is None
        async with ccari.sessions() as s:
            gold = await agents_repo.by_login(s, "acme", "alice")  # with her new skills
        assert gold is not None
        assert await ccari.queue.set_presence(gold, "ready") == "reserved"  # offered at once
        result = await call.wait()
        assert result.ok, result.describe()
    assert not (await wrong.result()).requests.get("INVITE")
    assert (await right.result()).requests.get("INVITE") == 1
    await eventually(lambda: completed(ccari), what="the call to complete")
