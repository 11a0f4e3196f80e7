"""Contact rows and their event log.  Every state change is written with an event."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Mapping
from typing import Any, Literal, cast

from sqlalchemy import Row, Select, String, Table, bindparam, func, insert, select, type_coerce
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.contacts.lifecycle import LIVE, Fact, State, step
from ccari.storage.batch import connection
from ccari.storage.epoch import epoch
from ccari.storage.fast import Prepared, Query, detached
from ccari.storage.models import Contact, ContactEvent, ContactMeta, new_id, utcnow

logger = logging.getLogger(__name__)

# The ``*_sync`` functions take a synchronous Session: the hot path's shared commits
# (ccari.storage.batch) run them.  They speak SQLAlchemy Core, not the ORM's unit of work
# (a third of the cost per statement), and return detached snapshots of the row, as a
# closed session's objects are; the async functions are the ORM versions for an AsyncSession.
AnySession = Session | AsyncSession

# Contacts being handled on a node now (the lifecycle's LIVE states, as stored).
OPEN_STATES = tuple(sorted(s.value for s in LIVE))

_CONTACTS = cast(Table, Contact.__table__)
_EVENTS = cast(Table, ContactEvent.__table__)
# Python-side column defaults the ORM would fill in on insert.
_DEFAULTS = {c.key: c.default for c in _CONTACTS.columns
             if c.default is not None and c.key not in ("id", "arrived_at")}
_SELECT_ONE = Query(select(_CONTACTS).where(_CONTACTS.c.id == bindparam("_id")))
_SELECT_ONE_LOCKED = Query(_SELECT_ONE.stmt.with_for_update())
_INSERT_CONTACT = Prepared(insert(_CONTACTS))
_INSERT_EVENT = Prepared(insert(_EVENTS))
# SET takes the columns of the parameters given: one compiled statement per column set.
_UPDATE_SEEN = Prepared(sql_update(_CONTACTS).where(_CONTACTS.c.id == bindparam("_id"),
                                                    _CONTACTS.c.state == bindparam("_seen")))


def _new_contact(fields: dict[str, Any]) -> Contact:
    fields.setdefault("id", new_id())
    fields.setdefault("arrived_at", utcnow())
    for key, default in _DEFAULTS.items():
        if key not in fields:
            fields[key] = default.arg({}) if default.is_callable else default.arg  # type: ignore[attr-defined]
    return Contact(**fields)


def _created(contact: Contact) -> dict[str, Any]:
    data = {"state": contact.state, "medium": contact.medium}
    _note_skill(contact.attributes, data)
    return {"tenant_id": contact.tenant_id, "contact_id": contact.id, "kind": "created",
            "at": contact.arrived_at, "data": data, "note": None}


def _note_skill(attributes: object, data: dict[str, Any]) -> None:
    """The skill routing attribute goes in the event too: a report counts a contact in the
    queue it joined, before any transfer."""
    skill = attributes.get("skill") if isinstance(attributes, dict) else None
    if isinstance(skill, str):
        data["skill"] = skill


def create_sync(session: Session, **fields: Any) -> Contact:
    """Insert a new contact and its "created" event; a detached snapshot of it."""
    contact = _new_contact(fields)
    conn = connection(session)
    _INSERT_CONTACT.execute(conn, fields)
    _INSERT_EVENT.execute(conn, _created(contact))
    return contact


async def create(session: AsyncSession, **fields: Any) -> Contact:
    contact = _new_contact(fields)
    session.add(contact)
    session.add(ContactEvent(**_created(contact)))
    await session.flush()
    return contact


def _get(contact_id: str, tenant_id: int | None, for_update: bool) -> Select[tuple[Contact]]:
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    if tenant_id is not None:
        query = query.where(Contact.tenant_id == tenant_id)
    return query


def get_sync(session: Session, contact_id: str) -> Contact | None:
    """A detached snapshot of the contact (PostgreSQL: its row locked until the shared
    transaction ends, so the move that follows is decided on what is current)."""
    conn = connection(session)
    query = _SELECT_ONE_LOCKED if conn.dialect.name == "postgresql" else _SELECT_ONE
    row = query.first(conn, {"_id": contact_id})
    return None if row is None else detached(Contact, row)


async def get(session: AsyncSession, contact_id: str, tenant_id: int | None = None,
              *, for_update: bool = False) -> Contact | None:
    """``for_update`` locks the row (PostgreSQL) for a check-then-change in one transaction."""
    return await session.scalar(_get(contact_id, tenant_id, for_update))


async def apply(
    session: AsyncSession, contact: Contact, fact: Fact, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Move a contact by ``fact`` (the lifecycle decides the new state, or raises
    ``IllegalTransition``), set ``fields`` and log the move (the caller commits; no I/O)."""
    event = _move(contact, fact, at, fields)
    session.add(contact)
    session.add(ContactEvent(**event))
    return contact


def apply_sync(
    session: Session, contact: Contact, fact: Fact, *, at: dt.datetime,
    detail: Mapping[str, Any] | None = None, **fields: Any
) -> Contact | None:
    """:func:`apply` on a snapshot from :func:`get_sync`, written at once: the row changes
    only if it is still in the state the snapshot saw (None otherwise: another node or a
    reconcile moved it first, and nothing was written). ``detail``: more for the event's
    data, not columns of the contact (e.g. who declined it)."""
    seen = contact.state
    event = _move(contact, fact, at, fields)
    if detail:
        event["data"].update(detail)
    conn = connection(session)
    values = {**fields, "state": contact.state}
    changed = _UPDATE_SEEN.execute(conn, {**values, "_id": contact.id, "_seen": seen})
    if changed.rowcount != 1:
        return None
    _INSERT_EVENT.execute(conn, event)
    return contact


def _move(contact: Contact, fact: Fact, at: dt.datetime, fields: dict[str, Any]) -> dict[str, Any]:
    """Step ``contact`` by ``fact`` in memory; the event row that records it."""
    state = step(contact.state, fact)
    data: dict[str, Any] = {"from": contact.state, "to": state.value, "fact": fact.value}
    _set(contact, fields, data)
    contact.state = state.value
    return {"tenant_id": contact.tenant_id, "contact_id": contact.id, "at": at,
            "kind": state.value, "data": data, "note": None}


async def update(
    session: AsyncSession, contact: Contact, kind: str, *, at: dt.datetime, **fields: Any
) -> Contact:
    """Change ``fields`` of a contact without moving it (priority, time), logged as ``kind``."""
    data: dict[str, Any] = {"state": contact.state}
    _set(contact, fields, data)
    session.add(contact)
    session.add(ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=kind,
                             data=data))
    return contact


def _set(contact: Contact, fields: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(contact, key, value)
        if isinstance(value, str | int | float | type(None)):
            data[key] = value
        elif key == "attributes":
            _note_skill(value, data)


async def log(
    session: AsyncSession, contact: Contact, kind: str, at: dt.datetime, **data: Any
) -> None:
    session.add(
        ContactEvent(tenant_id=contact.tenant_id, contact_id=contact.id, at=at, kind=kind, data=data)
    )


async def note_leg(session: AsyncSession, contact_id: str, tenant_id: int,
                   key: Literal["consults", "conference"], kind: str, at: dt.datetime, *,
                   agent_id: int, to: object, leg: str) -> bool:
    """A leg an agent dialled out of her call (a consult, a conference party): added to the
    contact's ``meta[key]`` and logged as ``kind``; False when the contact is gone (another
    tenant's, or none). The caller commits."""
    row = await get(session, contact_id, tenant_id, for_update=True)
    if row is None:
        return False
    entry: dict[str, Any] = {"agent_id": agent_id, "to": to, "leg": leg}
    meta = cast(ContactMeta, {**row.meta, key: [*row.meta.get(key, []), entry]})
    row.meta = meta
    await log(session, row, kind, at, **entry)
    return True


async def open_contacts(session: AsyncSession, node: str,
                        medium: str | Collection[str] | None = None) -> list[Contact]:
    """The node's open contacts, of ``medium`` (one, or any of several) if given."""
    query = select(Contact).where(Contact.state.in_(OPEN_STATES), Contact.node == node)
    if isinstance(medium, str):
        query = query.where(Contact.medium == medium)
    elif medium is not None:
        query = query.where(Contact.medium.in_(medium))
    return list(await session.scalars(query.order_by(Contact.arrived_at)))


async def offered_to(session: AsyncSession, agent_ids: Collection[int], media: Collection[str],
                     ) -> list[tuple[Contact, dt.datetime | None]]:
    """The contacts of ``media`` offered now to any of ``agent_ids``, each with when its
    offer was made (its latest "offered" event), oldest first."""
    made = (select(func.max(ContactEvent.at))
            .where(ContactEvent.contact_id == Contact.id,
                   ContactEvent.kind == State.OFFERED.value)
            .scalar_subquery())
    rows = await session.execute(
        select(Contact, made).where(Contact.state == State.OFFERED.value,
                                    Contact.agent_id.in_(agent_ids),
                                    Contact.medium.in_(media))
        .order_by(Contact.arrived_at))
    return [(contact, at) for contact, at in rows]


# What the router reads of a contact (ccari.contacts.routing.row_item, which reads these by
# position: keep the order), and the states it holds.
# Of ``meta`` only the reserved agent and the agent who left a call that goes on, read by
# the database (no JSON decoding of the rest).
# ``attributes`` as the database's text: contacts asking the same share one parse.  Times in
# seconds since the epoch, computed by the database: when it waits from (queued, else
# arrived) and, for a connected one, since when it is handled (connected, else arrived).
_ROUTED = (_CONTACTS.c.id, _CONTACTS.c.tenant_id, _CONTACTS.c.medium, _CONTACTS.c.state,
           _CONTACTS.c.agent_id, _CONTACTS.c.queue_id,
           type_coerce(_CONTACTS.c.attributes, String).label("attributes"),
           _CONTACTS.c.meta["reserved_agent"].as_string().label("reserved_agent"),
           _CONTACTS.c.priority,
           epoch(func.coalesce(_CONTACTS.c.queued_at, _CONTACTS.c.arrived_at)).label(
               "waiting_from"),
           epoch(func.coalesce(_CONTACTS.c.connected_at, _CONTACTS.c.arrived_at)).label(
               "handled_from"),
           epoch(_CONTACTS.c.not_before).label("not_before"),
           _CONTACTS.c.meta["agent_left"].as_string().label("agent_left"))
ROUTED_STATES = (State.QUEUED.value, State.OFFERED.value, State.CONNECTED.value)


async def routed_rows(session: AsyncSession, node: str | None) -> list[Row[Any]]:
    """The node's (None: every node's) queued, offered and connected contacts as plain rows
    of the columns the router reads: a restart rebuilds the router from all of them at once
    (in any order: the router orders them), and ORM objects for each (identity map, change
    tracking, a ``datetime`` per time) were most of that time."""
    query = select(*_ROUTED).where(_CONTACTS.c.state.in_(ROUTED_STATES))
    if node is not None:
        query = query.where(_CONTACTS.c.node == node)
    return list((await session.execute(query)).all())


async def handled_rows(session: AsyncSession, agent_id: int, node: str | None) -> list[Row[Any]]:
    """The contacts connected to the agent (on the node; None: on any), as
    :func:`routed_rows` gives them: what she still handles when she logs in again."""
    query = select(*_ROUTED).where(_CONTACTS.c.state == State.CONNECTED.value,
                                   _CONTACTS.c.agent_id == agent_id)
    if node is not None:
        query = query.where(_CONTACTS.c.node == node)
    return list((await session.execute(query)).all())


async def recent_declines(session: AsyncSession, since: dt.datetime,
                          ) -> list[tuple[str, int, float, bool]]:
    """Offers declined since ``since``: ``(contact_id, agent_id, at, missed)`` of each, from
    the contacts' event log (a rebuilt router keeps a contact from the agent who let it go,
    as the router that saw it did)."""
    rows = await session.execute(
        select(ContactEvent.contact_id, ContactEvent.at, ContactEvent.data)
        .where(ContactEvent.kind == State.QUEUED.value, ContactEvent.at >= since))
    out: list[tuple[str, int, float, bool]] = []
    for contact_id, at, data in rows:
        if data.get("fact") == Fact.DECLINED.value and data.get("declined_by") is not None:
            out.append((contact_id, int(data["declined_by"]), at.timestamp(),
                        bool(data.get("missed"))))
    return out


async def events(session: AsyncSession, tenant_id: int, contact_id: str) -> list[ContactEvent]:
    return list(
        await session.scalars(
            select(ContactEvent)
            .where(ContactEvent.tenant_id == tenant_id, ContactEvent.contact_id == contact_id)
            .order_by(ContactEvent.id)
        )
    )


async def recent(session: AsyncSession, tenant_id: int, limit: int = 50) -> list[Contact]:
    return list(
        await session.scalars(
            select(Contact)
            .where(Contact.tenant_id == tenant_id)
            .order_by(Contact.arrived_at.desc())
            .limit(limit)
        )
    )


async def requeue_lapsed(session: AsyncSession, rows: list[Row[Any]], page_media: Collection[str],
                         *, at: dt.datetime) -> None:
    """Offers pending on agent pages (``page_media``) among ``rows`` lived in the process
    that made them (their page message, their timer): declined, queued again, committed."""
    lapsed = [c.id for c in rows if c.state == State.OFFERED and c.medium in page_media]
    for contact_id in lapsed:
        contact = await get(session, contact_id, for_update=True)
        # (accepted meanwhile on another node's page: connected, kept)
        if contact is None or contact.state != State.OFFERED:
            continue
        logger.info("contact %s: its offer to agent %s ended with the process that made it; "
                    "queued again", contact.id, contact.agent_id)
        await apply(session, contact, Fact.DECLINED, at=at, agent_id=None,
                    agent_channel_id=None)
    if lapsed:
        await session.commit()
