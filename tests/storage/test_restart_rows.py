"""What a restart reads to rebuild the router, as plain rows, is what the ORM objects say.

On SQLite and PostgreSQL: the rows of ``routed_rows`` give the same work items as the
contacts, and ``roster`` the same routing attributes as the agents' skills.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.contacts import repo as contacts_repo
from ccari.contacts.routing import row_item, work_item
from ccari.demo.seed import seed
from ccari.storage.models import Agent, Contact, Tenant

T0 = dt.datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=dt.UTC)


async def test_routed_rows_make_the_contacts_work_items(sessions, cfg):
    async with sessions() as s:
        await seed(s, cfg)
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        tenant = alice.tenant_id
        made = {
            "waiting": dict(state="queued", medium="voice", attributes={"skill": "sales"},
                            priority=2, queued_at=T0 + dt.timedelta(seconds=5)),
            "reserved": dict(state="queued", medium="chat", attributes={"skill": "support",
                             "language": "en"}, meta={"reserved_agent": str(alice.id)}),
            "later": dict(state="queued", medium="voice", attributes={},
                          not_before=T0 + dt.timedelta(minutes=10)),
            "ringing": dict(state="offered", medium="voice", attributes={"skill": "sales"},
                            agent_id=alice.id),
            "talking": dict(state="connected", medium="voice", attributes={"skill": "sales"},
                            agent_id=alice.id, connected_at=T0 + dt.timedelta(seconds=30)),
            "done": dict(state="completed", medium="voice", attributes={}),
            "elsewhere": dict(state="queued", medium="voice", attributes={}, node="node2"),
        }
        for n, (name, fields) in enumerate(made.items()):
            await contacts_repo.create(s, id=name, tenant_id=tenant,
                                       arrived_at=T0 + dt.timedelta(seconds=n), **fields)
        await s.commit()
    async with sessions() as s:
        rows = await contacts_repo.routed_rows(s, "node1")
        contacts = {c.id: c for c in await s.scalars(select(Contact))}
    assert sorted(r.id for r in rows) == ["later", "reserved", "ringing", "talking", "waiting"]
    for row in rows:
        assert row_item(row) == work_item(contacts[row.id])
    by_id = {r.id: r for r in rows}
    assert by_id["reserved"].reserved_agent == str(alice.id)
    assert by_id["waiting"].reserved_agent is None
    assert by_id["talking"].agent_id == alice.id
    assert by_id["talking"].handled_from == (T0 + dt.timedelta(seconds=30)).timestamp()
    assert by_id["ringing"].handled_from == contacts["ringing"].arrived_at.timestamp()


@pytest.mark.parametrize("micro", [0, 1, 123456, 999999, 500000])
async def test_the_database_reads_a_time_as_the_seconds_python_computes(sessions, micro):
    """``epoch(column)`` is exactly ``datetime.timestamp()``: the restored queue order (ties
    of arrival included) is the one the running router had."""
    at = dt.datetime(2026, 3, 29, 1, 59, 59, micro, tzinfo=dt.UTC)
    async with sessions() as s:
        tenant = Tenant(slug="epoch", name="Epoch")
        s.add(tenant)
        await s.flush()
        await contacts_repo.create(s, id="c", tenant_id=tenant.id, state="queued", medium="voice",
                                   attributes={}, arrived_at=at, not_before=at)
        await s.commit()
    async with sessions() as s:
        [row] = await contacts_repo.routed_rows(s, "node1")
    assert row.waiting_from == at.timestamp() == row.not_before
    assert row.handled_from == at.timestamp()


async def test_roster_reads_every_agents_skills_apart(sessions, cfg):
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
    async with sessions() as s:
        roster = await agents_repo.roster(s)
    async with sessions() as s:
        loaded = {a.id: a for a in await s.scalars(select(Agent))}
    assert [a.id for a, _ in roster] == sorted(loaded)
    for agent, attributes in roster:
        assert attributes == agents_repo.attributes_of(loaded[agent.id])
        assert attributes  # every demo agent has skills
        assert agents_repo.attributes_of(agent) is None  # not loaded: never read by mistake
