"""Prepared writes write exactly what SQLAlchemy would, on both backends (fast on SQLite)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.admission.models import TrunkPool
from ccari.contacts import repo
from ccari.storage.batch import GroupCommit, connection
from ccari.storage.fast import Prepared, Query, detached
from ccari.storage.models import Contact, ContactEvent, Tenant

EVENTS = cast(Table, ContactEvent.__table__)
POOL = cast(Table, TrunkPool.__table__)
INSERT_EVENT = Prepared(insert(EVENTS))
SET_STATE = Prepared(update(EVENTS).where(EVENTS.c.id == bindparam("_id"),
                                          EVENTS.c.kind == bindparam("_seen")))
SET_POOL = Prepared(update(POOL).where(POOL.c.id == 1).values(generation=bindparam("_g")))
AT = dt.datetime(2026, 12, 5, 3, 4, 5, 678901, tzinfo=dt.UTC)


async def _contact(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, str]:
    async with sessions() as s:
        tenant = Tenant(slug="fast", name="Fast")
        s.add(tenant)
        await s.flush()
        contact = await repo.create(s, tenant_id=tenant.id, medium="chat", state="queued")
        await s.commit()
        return tenant.id, contact.id


async def _run(sessions: async_sessionmaker[AsyncSession], job: Any) -> Any:
    writes = GroupCommit(sessions)
    try:
        return await writes.run(job)
    finally:
        await writes.close()


async def test_a_prepared_insert_reads_back_as_sqlalchemys_own(sessions) -> None:  # type: ignore[no-untyped-def]
    tenant_id, contact_id = await _contact(sessions)
    row = {"tenant_id": tenant_id, "contact_id": contact_id, "at": AT, "kind": "offered",
           "data": {"to": "offered", "nested": [1, "two", None]}, "note": None}

    def both(s: Session) -> tuple[int | None, int | None]:
        conn = connection(s)
        fast = INSERT_EVENT.execute(conn, row).lastrowid
        slow = conn.execute(insert(EVENTS), [{**row, "kind": "plain"}]).inserted_primary_key
        return fast, slow[0] if slow else None

    fast_id, slow_id = await _run(sessions, both)
    async with sessions() as s:
        events = {e.id: e for e in await s.scalars(
            select(ContactEvent).where(ContactEvent.kind.in_(("offered", "plain"))))}
    assert set(events) == {fast_id, slow_id}
    fast, slow = events[fast_id], events[slow_id]
    assert (fast.at, fast.data, fast.note, fast.tenant_id) == (slow.at, slow.data, slow.note,
                                                              slow.tenant_id)
    assert fast.at == AT and fast.data["nested"] == [1, "two", None]


async def test_compare_and_set_changes_only_the_row_still_as_seen(sessions) -> None:  # type: ignore[no-untyped-def]
    tenant_id, contact_id = await _contact(sessions)
    row = {"tenant_id": tenant_id, "contact_id": contact_id, "at": AT, "kind": "a", "data": {},
           "note": None}

    def moves(s: Session) -> list[int]:
        conn = connection(s)
        event_id = INSERT_EVENT.execute(conn, row).lastrowid
        first = SET_STATE.execute(conn, {"kind": "b", "_id": event_id, "_seen": "a"})
        again = SET_STATE.execute(conn, {"kind": "c", "_id": event_id, "_seen": "a"})
        return [first.rowcount, again.rowcount]

    assert await _run(sessions, moves) == [1, 0]
    async with sessions() as s:
        kinds = list(await s.scalars(select(ContactEvent.kind).where(
            ContactEvent.contact_id == contact_id, ContactEvent.kind.in_(("a", "b", "c")))))
    assert kinds == ["b"]


async def test_a_value_written_into_the_statement_is_kept(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s:  # the pool row exists
        await s.run_sync(lambda sync: __import__("ccari.admission.repo", fromlist=["x"])
                         .lock_pool_sync(sync))
        await s.commit()
    assert await _run(sessions, lambda s: SET_POOL.execute(connection(s), {"_g": 4242}).rowcount) == 1
    async with sessions() as s:
        assert await s.scalar(select(TrunkPool.generation).where(TrunkPool.id == 1)) == 4242


async def test_column_defaults_are_still_filled_in_and_many_rows_go_at_once(sessions) -> None:  # type: ignore[no-untyped-def]
    tenant_id, contact_id = await _contact(sessions)
    # No "at" and no "data": SQLAlchemy's defaults (now, {}) apply, as without the fast path.
    bare = [{"tenant_id": tenant_id, "contact_id": contact_id, "kind": f"d{i}", "note": "x"}
            for i in range(3)]
    full = [{"tenant_id": tenant_id, "contact_id": contact_id, "kind": f"m{i}", "at": AT,
             "data": {"i": i}, "note": None} for i in range(4)]

    def write(s: Session) -> None:
        conn = connection(s)
        INSERT_EVENT.execute(conn, bare)
        INSERT_EVENT.execute(conn, full)

    await _run(sessions, write)
    async with sessions() as s:
        rows = {e.kind: e for e in await s.scalars(
            select(ContactEvent).where(ContactEvent.contact_id == contact_id))}
    assert len(rows) == 1 + 3 + 4  # created, then the seven written here
    assert all(rows[f"d{i}"].data == {} and rows[f"d{i}"].at is not None for i in range(3))
    assert [rows[f"m{i}"].data for i in range(4)] == [{"i": i} for i in range(4)]


async def test_a_prepared_query_reads_what_sqlalchemy_reads(sessions) -> None:  # type: ignore[no-untyped-def]
    """A contact as the hot path reads it (dates, JSON, NULLs), and the ORM snapshot made
    of it, equal SQLAlchemy's own read and a ``Contact(**row)``; a missing row is None."""
    tenant_id, contact_id = await _contact(sessions)
    async with sessions() as s:
        contact = await repo.get(s, contact_id)
        assert contact is not None
        contact.attributes = {"lang": "fr", "tags": ["a", None]}
        contact.connected_at = AT
        await s.commit()
    contacts = cast(Table, Contact.__table__)
    one = Query(select(contacts).where(contacts.c.id == bindparam("_id")))
    column = Query(select(contacts.c.state).where(contacts.c.id == bindparam("_id")))
    constant = Query(select(contacts.c.medium).where(contacts.c.id == contact_id).limit(1))

    def both(s: Session) -> tuple[Any, Any, Any, Any, Any, Any]:
        conn = connection(s)
        slow = conn.execute(one.stmt, {"_id": contact_id}).first()
        assert slow is not None
        read = (one.first(conn, {"_id": contact_id}), dict(slow._mapping),
                one.first(conn, {"_id": "no-such-contact"}),
                column.scalar(conn, {"_id": contact_id}), repo.get_sync(s, contact_id),
                constant.scalar(conn, {}))
        # (on SQLite at the driver's speed: each was compiled for it)
        assert all((q._reading is not None) == (conn.dialect.name == "sqlite")
                   for q in (one, column, constant))
        return read

    fast, slow, missing, state, snapshot, medium = await _run(sessions, both)
    assert fast == slow and missing is None and (state, medium) == ("queued", "chat")
    assert fast["connected_at"] == AT and fast["attributes"] == {"lang": "fr", "tags": ["a", None]}
    assert fast["tenant_id"] == tenant_id
    made = detached(Contact, fast)
    assert {k: getattr(made, k) for k in fast} == {k: getattr(Contact(**slow), k) for k in slow}
    assert {k: getattr(snapshot, k) for k in fast} == fast
    snapshot.state = "offered"  # a snapshot moves in memory like any ORM object
    assert snapshot.state == "offered"
