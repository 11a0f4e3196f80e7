"""A callback's contact moves, and what follows is the lifecycle's commands alone: the
agent's leg (agent first), the queue and the agent's page (the shared executor), the
attempts still in flight.  A table over the callbacks' moves, then the use cases (cancel,
reschedule) on both database backends."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.callbacks import repo as callbacks_repo
from ccari.callbacks.demo import seed_callbacks
from ccari.callbacks.executor import CallbackExecutor, Followup
from ccari.callbacks.services import CallbackService, DialerPort
from ccari.config import Config
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.demo.seed import seed
from ccari.storage.models import Agent, Contact
from ccari.tenants import repo as tenants_repo
from tests.contacts.recorder import Call, Recorder

CB, ID, AGENT = "cb1", "c1", 7
HANG, END = ("hang-up-agent", CB), ("end-attempts", CB)
DEQ, WD = ("dequeue", ID), ("page", AGENT, "withdrawn", ID)

# (the contact's state, the fact) -> what follows, written out by hand.
EXPECTED: dict[tuple[str, str], list[Call]] = {
    # cancelled by the customer or a supervisor
    ("scheduled", "customer-left"): [], ("dialing", "customer-left"): [END],
    ("queued", "customer-left"): [DEQ, END], ("offered", "customer-left"): [HANG, DEQ, WD, END],
    # moved, deferred by trunk admission, or tried again later
    ("scheduled", "rescheduled"): [], ("dialing", "rescheduled"): [END],
    ("queued", "rescheduled"): [DEQ, END], ("offered", "rescheduled"): [HANG, DEQ, WD, END],
    # tries or window exhausted
    ("scheduled", "gave-up"): [], ("dialing", "gave-up"): [END],
    ("queued", "gave-up"): [DEQ, END], ("offered", "gave-up"): [HANG, DEQ, WD, END],
    # due (agent first), the agent's phone did not answer (a missed offer)
    ("scheduled", "due"): [("enqueue", ID)],
    ("offered", "declined"): [HANG, ("requeue", ID, AGENT, True), WD],
    # the customer is being called; the customer answered (agent first): voice takes over
    ("scheduled", "dialled"): [], ("offered", "customer-answered"): [],
}


@pytest.mark.parametrize(("state", "fact"), sorted(EXPECTED))
async def test_a_callback_move_is_followed_by_its_commands(state: str, fact: str) -> None:
    rec = Recorder()
    executor = CallbackExecutor(rec.queue)
    executor.legs = rec
    contact = Contact(id=ID, tenant_id=1, medium="callback", state=state, agent_id=AGENT)
    commands = lifecycle.move(state, Fact(fact)).commands
    await executor.carry_out(Followup(CB, contact, commands, AGENT), missed=True)
    assert rec.calls == EXPECTED[state, fact]


async def test_without_a_pbx_only_the_queue_and_the_page_are_told() -> None:
    rec = Recorder()
    contact = Contact(id=ID, tenant_id=1, medium="callback", state="offered", agent_id=AGENT)
    commands = lifecycle.move("offered", Fact.CUSTOMER_LEFT).commands
    await CallbackExecutor(rec.queue).carry_out(Followup(CB, contact, commands, AGENT))
    assert rec.calls == [DEQ, WD]


async def test_nothing_moved_nothing_follows() -> None:
    rec = Recorder()
    executor = CallbackExecutor(rec.queue)
    executor.legs = rec
    await executor.carry_out(Followup(CB))
    assert rec.calls == []


# ---- the use cases -----------------------------------------------------------------------
@pytest.fixture
async def env(cfg: Config, sessions: async_sessionmaker[AsyncSession]):
    async with sessions() as s:
        await seed(s, cfg)
        await seed_callbacks(s)
        await s.commit()
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        alice = await s.scalar(select(Agent.id).where(Agent.tenant_id == acme.id,
                                                      Agent.username == "alice"))
    rec = Recorder()
    service = CallbackService(sessions, rec.queue, rec.hub, cfg.callbacks, node=cfg.node)
    service.attach(cast(DialerPort, rec))
    cb, _ = await service.request(acme.id, phone="+12015550199", when=None, source="api")
    yield service, rec, cb, acme.id, alice
    await service.close()


async def _move(service: CallbackService, contact_id: str, *moves: tuple[Fact, dict]) -> None:
    async with service._sessions() as s:  # noqa: SLF001 - the test walks the contact by hand
        contact = await contacts_repo.get(s, contact_id)
        assert contact is not None
        for fact, fields in moves:
            await contacts_repo.apply(s, contact, fact, at=dt.datetime.now(dt.UTC), **fields)
        await s.commit()


async def _contact(service: CallbackService, contact_id: str) -> Contact:
    async with service._sessions() as s:  # noqa: SLF001
        contact = await contacts_repo.get(s, contact_id)
    assert contact is not None
    return contact


async def _queued(service: CallbackService, cb_id: str) -> None:
    async with service._sessions() as s:  # noqa: SLF001
        row = await callbacks_repo.get(s, cb_id)
        assert row is not None
        row.status = "queued"  # agent first, claimed by the scheduler
        await s.commit()


async def test_a_callback_cancelled_while_offered_is_withdrawn_and_dequeued(env) -> None:
    service, rec, cb, tenant_id, alice = env
    await _queued(service, cb.id)
    await _move(service, cb.contact_id, (Fact.DUE, {}), (Fact.OFFERED, {"agent_id": alice}))
    await service.cancel(tenant_id, cb.id, by="supervisor")
    assert rec.calls == [("hang-up-agent", cb.id), ("dequeue", cb.contact_id),
                         ("page", alice, "withdrawn", cb.contact_id), ("end-attempts", cb.id)]
    contact = await _contact(service, cb.contact_id)
    assert (contact.state, contact.disposition) == ("abandoned", "cancelled-by-supervisor")


async def test_a_callback_cancelled_before_its_time_asks_nothing_of_anyone(env) -> None:
    service, rec, cb, tenant_id, _ = env
    await service.cancel(tenant_id, cb.id)
    assert rec.calls == []
    assert (await _contact(service, cb.contact_id)).state == "abandoned"


async def test_a_queued_callback_moved_later_leaves_the_queue(env) -> None:
    service, rec, cb, tenant_id, _ = env
    await _queued(service, cb.id)
    await _move(service, cb.contact_id, (Fact.DUE, {}))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    moved = await service.reschedule(tenant_id, cb.id, later)
    assert moved.status == "pending"
    assert rec.calls == [("dequeue", cb.contact_id), ("end-attempts", cb.id)]
    assert (await _contact(service, cb.contact_id)).state == "scheduled"
