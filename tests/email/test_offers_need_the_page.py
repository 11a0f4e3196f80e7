"""Web work needs the agent page, through the real service: an agent ready with no page open
(she only uses her phone) gets calls but no e-mail until she opens her page; an e-mail offer
pending on the page when ccari restarts is queued again in its place, offered again once
the page is back, and holds nobody meanwhile."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ccari.agents import repo as agents_repo
from ccari.app import runtime
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Agent, Contact
from tests.email.conftest import Env, Sink, email_cfg, mail, seed_all, smtp_send
from tests.email.test_agent_email import page, receive
from tests.email.test_missed_offer import Phones, queued_call
from tests.support.waits import eventually

OFFER_BOUND_S = 5.0  # an e-mail waiting for a free agent is offered once her page opens


async def bob_row(sessions: Any) -> Agent:
    async with sessions() as s:
        row = await agents_repo.by_login(s, "acme", "bob")
    assert row is not None
    return row


async def contact(sessions: Any, contact_id: str) -> Contact:
    async with sessions() as s:
        row = await contacts_repo.get(s, contact_id)
    assert row is not None
    return row


async def waiting_email(env: Env, sessions: Any, subject: str) -> str:
    """Send an e-mail to support; its id once it waits in the queue."""
    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", subject))

    async def queued() -> str | None:
        async with sessions() as s:
            for c in await contacts_repo.open_contacts(s, env.cfg.node, "email"):
                if c.meta.get("subject") == subject and env.rt.queue.view(c.id) is not None:
                    return c.id
        return None

    found: str = await eventually(queued, 10, what="the e-mail in the queue")
    return found


async def offered_within(env: Env, aiohttp_client: Any, email_id: str) -> None:
    """bob opens his page: the e-mail is offered to him there within the bound."""
    opened = time.monotonic()
    bob = await page(env, aiohttp_client, "acme", "bob")
    try:
        offer = (await receive(bob.ws, "offer"))["contact"]
        assert offer["id"] == email_id
        assert time.monotonic() - opened < OFFER_BOUND_S
    finally:
        await bob.close()


async def test_an_agent_with_no_page_open_gets_the_call_not_the_email(
        cfg: Any, sessions: Any, sink: Sink, aiohttp_client: Any) -> None:
    sec = await seed_all(sessions, cfg)
    ecfg = email_cfg(cfg, sink)
    async with runtime(ecfg, with_pbx=False) as rt:
        env = Env(rt, ecfg, ecfg.smtp.intake_port, sink, sec)
        phones = Phones()
        rt.queue.register("voice", phones)
        bob = await bob_row(sessions)
        # bob works from his phone only: ready, no page open.
        assert await rt.queue.set_presence(bob, "ready") == "ready"
        email_id = await waiting_email(env, sessions, "No page")
        assert rt.queue.agent_state(bob.id) == "ready"  # not held by an offer he cannot see

        call = await queued_call(env, "support")
        assert await asyncio.wait_for(phones.rung.get(), 10) == (call.id, bob.id)
        # The e-mail was never offered (no offer failed for want of a page, none retried).
        row = await contact(sessions, email_id)
        assert (row.state, row.offer_count, row.agent_id) == ("queued", 0, None)
        await rt.queue.accepted(call.id)
        await rt.queue.completed(call.id, bob.id, 0)
        assert (await contact(sessions, email_id)).offer_count == 0

        await offered_within(env, aiohttp_client, email_id)


async def test_an_email_offer_pending_at_a_restart_is_offered_again(
        cfg: Any, sessions: Any, sink: Sink, aiohttp_client: Any) -> None:
    sec = await seed_all(sessions, cfg)
    ecfg = email_cfg(cfg, sink)
    async with runtime(ecfg, with_pbx=False) as rt:
        env = Env(rt, ecfg, ecfg.smtp.intake_port, sink, sec)
        bob_page = await page(env, aiohttp_client, "acme", "bob")
        try:
            assert (await bob_page.presence("ready"))["state"] == "ready"
            await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Pending"))
            email_id = (await receive(bob_page.ws, "offer"))["contact"]["id"]
        finally:
            await bob_page.close()
    # ccari stopped with the offer pending on bob's page.
    bob = await bob_row(sessions)
    before = await contact(sessions, email_id)
    assert (before.state, before.agent_id, bob.presence) == ("offered", bob.id, "ready")

    async with runtime(ecfg, with_pbx=False) as rt:
        env = Env(rt, ecfg, ecfg.smtp.intake_port, sink, sec)
        # Back in the queue in its place, bob free.
        after = await contact(sessions, email_id)
        assert (after.state, after.agent_id, after.queued_at) == ("queued", None, before.queued_at)
        async with sessions() as s:
            facts = [e.data.get("fact") for e in await contacts_repo.events(s, after.tenant_id,
                                                                             email_id)]
        assert facts[-1] == "declined" and "offered" in facts
        assert rt.queue.agent_state(bob.id) == "ready"
        assert rt.queue.view(email_id) is not None

        # A caller for the same skill is not starved: bob's phone rings.
        phones = Phones()
        rt.queue.register("voice", phones)
        call = await queued_call(env, "support")
        assert await asyncio.wait_for(phones.rung.get(), 10) == (call.id, bob.id)
        await rt.queue.accepted(call.id)
        await rt.queue.completed(call.id, bob.id, 0)

        # bob's page is back: the e-mail is offered to him again.
        await offered_within(env, aiohttp_client, email_id)
        assert (await contact(sessions, email_id)).state == "offered"
