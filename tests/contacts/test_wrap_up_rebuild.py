"""A timed wrap-up through the real service: the router rebuilt from the database while an
agent wraps up (a restart, a new cluster leader) keeps her in it until it was to end, then
she gets the caller who queued meanwhile; the saved end goes with her wrap-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.storage.models import Agent, Contact, utcnow
from ccari.tenants import repo as tenants_repo
from tests.support.waits import eventually

WRAP_S = 3.0  # the queue's wrap-up after a call


class Phones:
    """Stands in for the voice ACD (no Asterisk here): whose phone would ring, for what, when."""

    def __init__(self) -> None:
        self.rung: asyncio.Queue[tuple[str, int, float]] = asyncio.Queue()

    async def deliver(self, contact: Contact, agent: Agent) -> None:
        await self.rung.put((contact.id, agent.id, time.time()))


async def queued_call(rt: Runtime, skill: str) -> Contact:
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        call = await contacts_repo.create(s, tenant_id=acme.id, medium="voice", state="queued",
                                          caller_number="15550199", attributes={"skill": skill},
                                          arrived_at=utcnow(), queued_at=utcnow())
        await s.commit()
    await rt.queue.enqueue(call)
    return call


async def saved_end(rt: Runtime, agent: Agent) -> dt.datetime | None:
    """When the database says her timed wrap-up ends (what a rebuild reads)."""
    async with rt.sessions() as s:
        row = await agents_repo.get(s, agent.tenant_id, agent.id)
    assert row is not None
    return row.wrap_until


async def bob(rt: Runtime) -> Agent:
    async with rt.sessions() as s:
        row = await agents_repo.by_login(s, "acme", "bob")
    assert row is not None
    return row


async def answered_then_ended(rt: Runtime, contact_id: str) -> None:
    """What the voice side saves of a call bob answers and hangs up."""
    async with rt.sessions() as s:
        call = await contacts_repo.get(s, contact_id)
        assert call is not None
        await contacts_repo.apply(s, call, Fact.ANSWERED, at=utcnow())
        await contacts_repo.apply(s, call, Fact.ENDED, at=utcnow())
        await s.commit()


async def test_a_rebuilt_router_keeps_the_agent_in_her_timed_wrap_up(rt: Runtime) -> None:
    phones = Phones()
    rt.queue.register("voice", phones)
    agent = await bob(rt)
    await rt.queue.set_presence(agent, "ready")
    first = await queued_call(rt, "support")
    assert (await asyncio.wait_for(phones.rung.get(), 10))[:2] == (first.id, agent.id)
    await rt.queue.accepted(first.id)
    await answered_then_ended(rt, first.id)
    ended = time.time()
    await rt.queue.completed(first.id, agent.id, WRAP_S)
    assert rt.queue.agent_state(agent.id) == "wrap_up"
    end = await saved_end(rt, agent)
    assert end is not None and ended + WRAP_S <= end.timestamp() <= time.time() + WRAP_S

    # Rebuilt from the database during the wrap-up: still in it, no caller for him yet.
    await rt.queue.stop_routing()
    await rt.queue.start()
    assert rt.queue.agent_state(agent.id) == "wrap_up"
    second = await queued_call(rt, "support")
    assert phones.rung.empty()
    # At its end he is ready by himself, and the caller rings him: not before.
    contact_id, agent_id, rung_at = await asyncio.wait_for(phones.rung.get(), 10 + WRAP_S)
    assert (contact_id, agent_id) == (second.id, agent.id)
    assert rung_at >= end.timestamp()

    async def cleared() -> bool:
        return await saved_end(rt, agent) is None

    assert await eventually(cleared, 5, "the saved end cleared")


async def test_a_wrap_up_ended_by_the_agent_is_not_restored(rt: Runtime) -> None:
    """She ends her wrap-up early (ready): a rebuild keeps her ready, not back in wrap-up."""
    phones = Phones()
    rt.queue.register("voice", phones)
    agent = await bob(rt)
    await rt.queue.set_presence(agent, "ready")
    first = await queued_call(rt, "support")
    await asyncio.wait_for(phones.rung.get(), 10)
    await rt.queue.accepted(first.id)
    await answered_then_ended(rt, first.id)
    await rt.queue.completed(first.id, agent.id, 600.0)
    assert await saved_end(rt, agent) is not None

    await rt.queue.set_presence(agent, "ready")  # the page's ready (or her wrap-up code)
    assert await saved_end(rt, agent) is None
    await rt.queue.stop_routing()
    await rt.queue.start()
    assert rt.queue.agent_state(agent.id) == "ready"
    second = await queued_call(rt, "support")
    assert (await asyncio.wait_for(phones.rung.get(), 10))[:2] == (second.id, agent.id)

