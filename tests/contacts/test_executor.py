"""The shared executor (chat, e-mail, the queue's part of callbacks): every move of the
lifecycle against what it asks of the queue and the agent's pages, and the page offers'
paths (accepted, rejected, lapsed, completed) carried out through it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import TRANSITIONS, Fact, State
from ccari.contacts.offers import PageOffers
from ccari.errors import Conflict
from ccari.storage.models import Agent, Contact, Tenant
from tests.contacts.recorder import Call, Recorder
from tests.support.waits import eventually

AGENT, ID = 7, "c1"
W, R, D, E = (("page", AGENT, "withdrawn", ID), ("requeue", ID, AGENT, True),
              ("dequeue", ID), ("enqueue", ID))

# What each move asks of the queue and the pages (agent 7, a missed offer, wrap-up 5 s),
# written out by hand: the pages hear of a contact leaving once the queue has it back.
EXPECTED: dict[tuple[str, str], list[Call]] = {
    ("ivr", "routed"): [E], ("ivr", "customer-left"): [], ("ivr", "self-served"): [],
    ("scheduled", "due"): [E], ("scheduled", "dialled"): [], ("scheduled", "rescheduled"): [],
    ("scheduled", "customer-left"): [], ("scheduled", "gave-up"): [],
    ("dialing", "routed"): [E], ("dialing", "rescheduled"): [],
    ("dialing", "customer-left"): [], ("dialing", "gave-up"): [],
    ("queued", "offered"): [],  # the queue presents the offers it makes
    ("queued", "rescheduled"): [D], ("queued", "customer-left"): [D], ("queued", "gave-up"): [D],
    ("offered", "declined"): [R, W], ("offered", "customer-answered"): [],
    ("offered", "answered"): [("accepted", ID)], ("offered", "rescheduled"): [D, W],
    ("offered", "customer-left"): [D, W], ("offered", "gave-up"): [D, W],
    ("connected", "transferred"): [("completed", ID, AGENT, 0), W, E],
    ("connected", "ended"): [("completed", ID, AGENT, 5.0), ("page", AGENT, "completed", ID)],
    ("completed", "customer-wrote"): [E], ("abandoned", "customer-wrote"): [E],
}


def test_the_table_names_every_move() -> None:
    assert set(EXPECTED) == {(s.value, f.value) for s, moves in TRANSITIONS.items() for f in moves}


@pytest.mark.parametrize(("state", "fact"), sorted(EXPECTED))
async def test_every_move_is_carried_out_on_the_queue_and_the_pages(state: str, fact: str) -> None:
    rec = Recorder()
    contact = Contact(id=ID, tenant_id=1, medium="chat", state=state, agent_id=AGENT)
    commands = lifecycle.move(state, Fact(fact)).commands
    await Executor(rec.queue).carry_out(contact, commands, agent_id=AGENT, missed=True,
                                                 wrap_up_s=5.0)
    assert rec.calls == EXPECTED[state, fact]


async def test_without_an_agent_nobody_s_page_is_told() -> None:
    rec = Recorder()
    contact = Contact(id=ID, tenant_id=1, medium="email", state="offered")
    await Executor(rec.queue).carry_out(
        contact, lifecycle.move("offered", Fact.CUSTOMER_LEFT).commands, agent_id=None)
    assert rec.calls == [D]


async def test_a_transferred_contact_leaves_the_agent_s_page_before_it_waits_again() -> None:
    # Enqueued, it may be offered at once (to her again): that offer must not be dropped.
    rec = Recorder()
    contact = Contact(id=ID, tenant_id=1, medium="chat", state="queued")
    await Executor(rec.queue).carry_out(
        contact, lifecycle.move("connected", Fact.TRANSFERRED).commands, agent_id=AGENT)
    assert rec.calls.index(W) < rec.calls.index(E)


# ---- the page offers (e-mail, chat) --------------------------------------------------------
async def _offered(sessions: async_sessionmaker[AsyncSession], medium: str) -> tuple[Agent, Contact]:
    now = dt.datetime.now(dt.UTC)
    async with sessions() as s:
        tenant = Tenant(slug="t", name="T")
        s.add(tenant)
        await s.flush()
        agent = Agent(tenant_id=tenant.id, username="alice", display_name="Alice",
                      phone_username="t-alice", password_hash="x", phone_password="x")
        s.add(agent)
        await s.flush()
        contact = await contacts_repo.create(s, tenant_id=tenant.id, medium=medium,
                                             state=State.QUEUED.value, node="n", arrived_at=now,
                                             queued_at=now)
        await contacts_repo.apply(s, contact, Fact.OFFERED, at=now, agent_id=agent.id)
        await s.commit()
    return agent, contact


def _offers(rec: Recorder, sessions: async_sessionmaker[AsyncSession], *,
            timeout: float = 30.0) -> PageOffers:
    offers = PageOffers(sessions, rec.queue, accept_timeout_s=timeout)
    offers.register_medium("email")
    offers.register_medium("chat")
    return offers


async def test_an_email_rejected_is_withdrawn_from_the_page_and_requeued(sessions) -> None:
    agent, contact = await _offered(sessions, "email")
    rec = Recorder(pages={agent.id})
    reply = await _offers(rec, sessions)._cmd_reject(agent, {"contact_id": contact.id})
    assert reply == {"type": "withdrawn", "contact_id": contact.id}
    assert rec.calls == [("requeue", contact.id, agent.id, False),
                         ("page", agent.id, "withdrawn", contact.id)]


async def test_an_email_offer_that_lapses_is_withdrawn_and_requeued_as_missed(sessions) -> None:
    agent, contact = await _offered(sessions, "email")
    rec = Recorder(pages={agent.id})
    offers = _offers(rec, sessions, timeout=0.05)
    try:
        await offers.deliver(contact, agent)
        await eventually(lambda: _settled(rec, 3), 5, "the offer to lapse")
    finally:
        await offers.close()
    assert rec.calls[0][:3] == ("page", agent.id, "offer")
    assert rec.calls[1:] == [("requeue", contact.id, agent.id, True),
                             ("page", agent.id, "withdrawn", contact.id)]


async def test_an_offer_to_an_agent_with_no_page_open_is_requeued_at_once(sessions) -> None:
    agent, contact = await _offered(sessions, "chat")
    rec = Recorder()
    await _offers(rec, sessions).deliver(contact, agent)
    assert rec.calls == [("requeue", contact.id, agent.id, False),
                         ("page", agent.id, "withdrawn", contact.id)]


async def test_an_email_accepted_then_completed(sessions) -> None:
    agent, contact = await _offered(sessions, "email")
    rec = Recorder(pages={agent.id})
    hooked: list[str] = []

    async def hook(row: Contact, who: Agent) -> None:
        hooked.append(f"{row.state} by {who.username}")

    offers = PageOffers(sessions, rec.queue)
    offers.register_medium("email", on_accepted=hook, on_completed=hook)
    await offers.accept(agent, contact.id)
    with pytest.raises(Conflict):  # accepted once: a second tab finds it taken
        await offers.accept(agent, contact.id)
    await offers.complete(agent, contact.id, "answered")
    assert rec.calls == [("accepted", contact.id), ("completed", contact.id, agent.id, 0),
                         ("page", agent.id, "completed", contact.id)]
    assert hooked == ["connected by alice", "completed by alice"]
    async with sessions() as s:
        row = await contacts_repo.get(s, contact.id)
    assert row is not None and (row.state, row.disposition) == ("completed", "answered")


async def _settled(rec: Recorder, n: int) -> bool:
    return len(rec.calls) >= n
