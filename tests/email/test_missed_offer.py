"""A missed offer, through the real service: an e-mail offered on the agent's page and not
accepted in time makes the agent not ready ("missed offer", on her page and the supervisor's);
ready again, she gets the caller who queued meanwhile, not the e-mail she just let lapse, which
comes back to her once the missed-offer delay has passed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from ccari.agents import repo as agents_repo
from ccari.app import internal_app, runtime
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Agent, Contact, utcnow
from ccari.tenants import repo as tenants_repo
from tests.email.conftest import Env, Sink, email_cfg, mail, seed_all, smtp_send
from tests.email.test_agent_email import page, receive
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening

ACCEPT_S = 1.0  # the page offer lapses after this
MISSED_DELAY_S = 4.0  # then the e-mail is kept from the agent who missed it this long


class Phones:
    """Stands in for the voice ACD (no Asterisk here): whose phone would ring, for what."""

    def __init__(self) -> None:
        self.rung: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def deliver(self, contact: Contact, agent: Agent) -> None:
        await self.rung.put((contact.id, agent.id))


@pytest.fixture
async def env(cfg: Any, sessions: Any, sink: Sink) -> AsyncIterator[Env]:
    sec = await seed_all(sessions, cfg)
    ecfg = email_cfg(cfg, sink)
    ecfg = replace(ecfg, routing=replace(ecfg.routing, accept_timeout_s=ACCEPT_S,
                                         missed_offer_delay_s=MISSED_DELAY_S))
    async with runtime(ecfg, with_pbx=False) as rt:
        yield Env(rt, ecfg, ecfg.smtp.intake_port, sink, sec)


async def state(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    """The next state message saying ``wanted`` (earlier ones skipped)."""
    return await receive(ws, "state", state=wanted)


async def queued_call(env: Env, skill: str) -> Contact:
    async with env.rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        call = await contacts_repo.create(s, tenant_id=acme.id, medium="voice", state="queued",
                                          caller_number="15550199", attributes={"skill": skill},
                                          arrived_at=utcnow(), queued_at=utcnow())
        await s.commit()
    await env.rt.queue.enqueue(call)
    return call


async def test_a_missed_email_makes_the_agent_not_ready_and_the_caller_comes_first(
        env: Env, sessions: Any, aiohttp_client: Any) -> None:
    phones = Phones()
    env.rt.queue.register("voice", phones)
    # An e-mail for bob's skill waits before he logs in.
    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Old question"))
    bob = await page(env, aiohttp_client, "acme", "bob")
    sam = await page(env, aiohttp_client, "acme", "sam")  # the supervisor (stays not ready)
    try:
        await bob.ws.send_json({"type": "presence", "presence": "ready"})
        email_id = (await receive(bob.ws, "offer"))["contact"]["id"]
        # A caller for the same skill queues meanwhile: bob's voice slot is exclusive.
        call = await queued_call(env, "support")
        assert phones.rung.empty()

        # bob does not accept: the offer lapses, and he is not ready, saying why.
        missed = await state(bob.ws, "not_ready")
        missed_at = time.monotonic()
        assert missed["reason"] == "missed_offer"
        await receive(bob.ws, "withdrawn", contact_id=email_id)
        html = await (await bob.http.get("/agent")).text()
        reason = re.search(r'<span id="state-reason"[^>]*>([^<]*)</span>', html)
        assert reason is not None and reason.group(1) == "missed offer"
        assert " hidden>" not in reason.group(0)
        agents = (await (await sam.http.get("/supervisor/api/pending")).json())["agents"]
        assert {a["name"]: (a["state"], a["reason"]) for a in agents}["Bob Support"] == (
            "not_ready", "missed_offer")
        async with sessions() as s:  # a restart keeps him not ready
            row = await agents_repo.by_login(s, "acme", "bob")
            assert row is not None and row.presence == "not_ready"
            assert (await contacts_repo.get(s, email_id)).state == "queued"  # type: ignore[union-attr]

        # Ready again: the caller rings his phone, not the e-mail he just missed.
        await bob.ws.send_json({"type": "presence", "presence": "ready"})
        assert await asyncio.wait_for(phones.rung.get(), 10) == (call.id, row.id)
        assert (await state(bob.ws, "reserved"))["reason"] is None
        assert env.rt.queue.view(email_id) is not None  # still waiting, first in line
        # He takes the call and hangs up; the e-mail comes back once the delay has passed.
        await env.rt.queue.accepted(call.id)
        await env.rt.queue.completed(call.id, row.id, 0)
        again = (await receive(bob.ws, "offer"))["contact"]
        assert again["id"] == email_id
        assert time.monotonic() - missed_at >= MISSED_DELAY_S - 0.2
    finally:
        await bob.close()
        await sam.close()


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_agent_page_shows_the_missed_offer(env: Env, db_url: str) -> None:
    async with listening(internal_app(env.rt)) as base:
        async with chromium() as browser:
            tab = await agent_login(await browser.new_page(), base, "bob",
                                    env.secrets["acme.bob.web"])
            assert await tab.is_hidden("#state-reason")
            await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Hello"))
            # Offered, not accepted: withdrawn, and the page says why bob is not ready.
            await tab.wait_for_selector("#state[data-state=not_ready]")
            assert await tab.locator(".work-item").count() == 0
            assert await tab.text_content("#state-reason") == "missed offer"
            assert await tab.is_visible("#state-reason")
            await tab.click("#ready")
            await tab.wait_for_selector("#state[data-state=ready]")
            assert await tab.is_hidden("#state-reason")


async def test_a_rebuilt_router_keeps_the_missed_email_from_the_agent_who_missed_it(
        env: Env, sessions: Any, aiohttp_client: Any) -> None:
    """The router rebuilt from the database between the miss and bob's return (a restart, a
    new cluster leader) knows what he let lapse (the caller comes first, as without it) and
    why he is not ready."""
    phones = Phones()
    env.rt.queue.register("voice", phones)
    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Old question"))
    bob = await page(env, aiohttp_client, "acme", "bob")
    try:
        await bob.ws.send_json({"type": "presence", "presence": "ready"})
        email_id = (await receive(bob.ws, "offer"))["contact"]["id"]
        call = await queued_call(env, "support")
        await state(bob.ws, "not_ready")  # the offer lapsed
        await receive(bob.ws, "withdrawn", contact_id=email_id)

        await env.rt.queue.stop_routing()
        await env.rt.queue.start()
        async with sessions() as s:
            row = await agents_repo.by_login(s, "acme", "bob")
        assert row is not None
        # Still not ready, and still for the reason ccari made him so (page, wallboard).
        assert env.rt.queue.agent_state(row.id) == "not_ready"
        assert env.rt.queue.agent_reason(row.id) == "missed_offer"
        await bob.ws.send_json({"type": "presence", "presence": "ready"})
        assert await asyncio.wait_for(phones.rung.get(), 10) == (call.id, row.id)
        assert env.rt.queue.view(email_id) is not None  # still waiting, first in line
    finally:
        await bob.close()
