"""Admission storage: the pool row (and lock), the live admitted set, decisions, rates, usage.

Repository functions take a session; the caller commits. Everything but the pool is keyed
by tenant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.admission.billing import TenantRates
from ccari.admission.models import AdmissionDecision, TenantRate, TrunkCall, TrunkPool
from ccari.storage.batch import connection
from ccari.storage.fast import Prepared, Query, detached
from ccari.storage.models import Contact, Tenant

POOL_ID = 1
LOCK_TIMEOUT_MS = 5000  # waiting for the pool lock longer than this raises

# The hot path's statements (Core, built once).
_POOL = cast(Table, TrunkPool.__table__)
_LOCK_POOL = Query(select(_POOL).where(_POOL.c.id == POOL_ID).with_for_update())
_POLICY = Query(select(Tenant.id, Tenant.trunk_ratio, Tenant.after_hours_trunks,
                       Tenant.overflow_policy).where(Tenant.id == bindparam("_id")))
_LIVE_CALLS = select(TrunkCall.call_id, TrunkCall.tenant_id, TrunkCall.node, TrunkCall.direction,
                     TrunkCall.started_at)
_DELETE_CALL = Prepared(delete(TrunkCall).where(TrunkCall.call_id == bindparam("_id")))
_POOL_TOKEN = Query(select(_POOL.c.generation).where(_POOL.c.id == POOL_ID).with_for_update())
_SET_TOKEN = update(_POOL).where(_POOL.c.id == POOL_ID).values(generation=bindparam("_token"))
_INSERT_DECISION = Prepared(insert(cast(Table, AdmissionDecision.__table__)))
_SET_TOKEN_FAST = Prepared(_SET_TOKEN)
# A call joins the live set unless it is there already (SQLite; PostgreSQL's is built per call).
_INSERT_CALL_SQLITE = Prepared(sqlite.insert(TrunkCall).on_conflict_do_nothing(
    index_elements=["call_id"]))


class LiveCall(NamedTuple):
    call_id: str
    tenant_id: int
    node: str
    direction: str
    started_at: dt.datetime


class PolicyRow(NamedTuple):
    tenant_id: int
    ratio: float
    after_hours_trunks: int
    overflow: str


class ArrivalRow(NamedTuple):
    id: int
    tenant_id: int
    at: dt.datetime


class EndedCall(NamedTuple):
    contact_id: str
    tenant_id: int
    arrived_at: dt.datetime
    ended_at: dt.datetime


class UsageRow(NamedTuple):
    id: str
    medium: str
    state: str
    arrived_at: dt.datetime
    ended_at: dt.datetime | None
    wait_s: float | None
    talk_s: float | None


def _rowcount(result: object) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _insert(session: AsyncSession | Session) -> Any:
    """``INSERT ... ON CONFLICT`` for the session's dialect."""
    return postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert


def _dialect(session: AsyncSession | Session) -> str:
    return session.get_bind().dialect.name


# ---- the pool ------------------------------------------------------------------------------
def lock_pool_sync(session: Session) -> TrunkPool:
    """The pool row (a detached snapshot), locked ``FOR UPDATE`` until the transaction ends
    (PostgreSQL; SQLite ignores the clause and relies on its single writer). Created if
    missing."""
    conn = connection(session)
    if conn.dialect.name == "postgresql":  # a stuck node must not stall every other one
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
    row = _LOCK_POOL.first(conn, {})
    if row is None:
        conn.execute(_insert(session)(_POOL).values(id=POOL_ID).on_conflict_do_nothing())
        row = _LOCK_POOL.first(conn, {})
        assert row is not None
    return detached(TrunkPool, row)


async def lock_pool(session: AsyncSession) -> TrunkPool:
    """The pool row as an ORM object of ``session`` (to change it), locked like
    :func:`lock_pool_sync`'s."""
    await session.run_sync(lock_pool_sync)  # creates it if missing, takes the lock
    row = await session.scalar(select(TrunkPool).where(TrunkPool.id == POOL_ID)
                               .execution_options(populate_existing=True))
    assert row is not None
    return row


async def pool(session: AsyncSession) -> TrunkPool:
    row = await session.scalar(select(TrunkPool).where(TrunkPool.id == POOL_ID))
    return row if row is not None else await lock_pool(session)


# ---- tenants -------------------------------------------------------------------------------
def policy_sync(session: Session, tenant_id: int) -> PolicyRow | None:
    """The tenant's trunk policy as stored now (None: no such tenant)."""
    row = _POLICY.first(connection(session), {"_id": tenant_id})
    return None if row is None else PolicyRow(*row.values())


async def tenant(session: AsyncSession, tenant_id: int) -> Tenant | None:
    """The tenant as stored now (not an older copy the session holds)."""
    return await session.scalar(
        select(Tenant).where(Tenant.id == tenant_id).execution_options(populate_existing=True))


async def policies(session: AsyncSession) -> list[PolicyRow]:
    rows = await session.execute(
        select(Tenant.id, Tenant.trunk_ratio, Tenant.after_hours_trunks, Tenant.overflow_policy)
    )
    return [PolicyRow(*r) for r in rows.tuples()]


# ---- the live admitted set -----------------------------------------------------------------
def live_calls_sync(session: Session) -> list[LiveCall]:
    """Every call holding a trunk, all tenants and nodes (at most the pool's size)."""
    return [LiveCall(*r) for r in connection(session).execute(_LIVE_CALLS)]


async def live_calls(session: AsyncSession) -> list[LiveCall]:
    return await session.run_sync(live_calls_sync)


def insert_call_sync(session: Session, call: LiveCall) -> bool:
    """Add a call to the live set; False if the call id is already there."""
    values = {"call_id": call.call_id, "tenant_id": call.tenant_id, "node": call.node,
              "direction": call.direction, "started_at": call.started_at}
    conn = connection(session)
    if conn.dialect.name == "sqlite":
        return _INSERT_CALL_SQLITE.execute(conn, values).rowcount == 1
    result = conn.execute(postgresql.insert(TrunkCall).values(**values)
                          .on_conflict_do_nothing(index_elements=["call_id"]))
    return _rowcount(result) == 1


def delete_call_sync(session: Session, call_id: str) -> bool:
    return _DELETE_CALL.execute(connection(session), {"_id": call_id}).rowcount > 0


def pool_token_sync(session: Session) -> int:
    """The live set's token, the pool row locked (see ccari.admission.liveset)."""
    return int(_POOL_TOKEN.scalar(connection(session), {}) or 0)


def set_pool_token_sync(session: Session, token: int) -> None:
    """Record a change of the live set (every writer of trunk_calls calls this)."""
    _SET_TOKEN_FAST.execute(connection(session), {"_token": token})


async def delete_stale(
    session: AsyncSession, node: str, live_call_ids: Iterable[str], as_of: dt.datetime | None,
    token: int,
) -> int:
    """Remove ``node``'s calls whose channel is not in ``live_call_ids`` (a snapshot taken at
    ``as_of``: calls admitted since are kept); ``token``: the live set's new token."""
    live = set(live_call_ids)
    query = select(TrunkCall.call_id).where(TrunkCall.node == node)
    if as_of is not None:
        query = query.where(TrunkCall.started_at < as_of)
    rows = await session.execute(query)
    stale = [c for c in rows.scalars() if c not in live]
    for i in range(0, len(stale), 500):
        await session.execute(delete(TrunkCall).where(TrunkCall.call_id.in_(stale[i:i + 500])))
    if stale:
        await session.execute(_SET_TOKEN, {"_token": token})
    return len(stale)


async def count_calls(session: AsyncSession, tenant_id: int) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(TrunkCall).where(TrunkCall.tenant_id == tenant_id)
    ) or 0)


# ---- decisions -----------------------------------------------------------------------------
def add_decision_sync(session: Session, **values: Any) -> int:
    """Record a decision; its id."""
    key = _INSERT_DECISION.execute(connection(session), values).lastrowid
    assert key is not None
    return int(key)


async def decisions(
    session: AsyncSession, tenant_id: int, *, limit: int, refused_only: bool = False
) -> Sequence[AdmissionDecision]:
    query = select(AdmissionDecision).where(AdmissionDecision.tenant_id == tenant_id)
    if refused_only:
        query = query.where(AdmissionDecision.admit.is_(False))
    query = query.order_by(AdmissionDecision.at.desc(), AdmissionDecision.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def arrivals_since(session: AsyncSession, since: dt.datetime) -> list[ArrivalRow]:
    """Inbound decisions (arrivals) at or after ``since``, all tenants."""
    rows = await session.execute(
        select(AdmissionDecision.id, AdmissionDecision.tenant_id, AdmissionDecision.at).where(
            AdmissionDecision.at >= since, AdmissionDecision.direction == "inbound"
        )
    )
    return [ArrivalRow(*r) for r in rows.tuples()]


async def prune_decisions(session: AsyncSession, before: dt.datetime) -> int:
    """Delete decisions older than ``before`` (retention); returns how many."""
    result = await session.execute(delete(AdmissionDecision).where(AdmissionDecision.at < before))
    return _rowcount(result)


# ---- durations and usage (contacts) --------------------------------------------------------
async def ended_calls_since(
    session: AsyncSession, since: dt.datetime, *, limit: int
) -> list[EndedCall]:
    """Voice contacts that ended at or after ``since``, the most recent ``limit``."""
    rows = await session.execute(
        select(Contact.id, Contact.tenant_id, Contact.arrived_at, Contact.ended_at)
        .where(Contact.medium == "voice", Contact.ended_at.is_not(None), Contact.ended_at >= since)
        .order_by(Contact.ended_at.desc())
        .limit(limit)
    )
    return [EndedCall(c, t, a, e) for c, t, a, e in rows.tuples() if e is not None]


async def contacts_in_period(
    session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime
) -> list[UsageRow]:
    """The tenant's contacts that arrived in ``[start, end)``."""
    rows = await session.execute(
        select(Contact.id, Contact.medium, Contact.state, Contact.arrived_at, Contact.ended_at,
               Contact.wait_s, Contact.talk_s)
        .where(Contact.tenant_id == tenant_id, Contact.arrived_at >= start,
               Contact.arrived_at < end)
        .order_by(Contact.arrived_at, Contact.id)
    )
    return [UsageRow(*r) for r in rows.tuples()]


# ---- rates ---------------------------------------------------------------------------------
def decimal_of(value: object) -> Decimal:
    """A price as an exact Decimal (text or int in, never float); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"a price is a decimal string such as \"0.0125\", got {value!r}")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"a price must be a finite decimal >= 0, got {value!r}")
    return d


def rates_of(row: TenantRate, tenant: str) -> TenantRates:
    return TenantRates(
        tenant=tenant,
        currency=row.currency,
        per_trunk_minute=decimal_of(row.per_trunk_minute),
        per_agent_minute=decimal_of(row.per_agent_minute),
        per_contact={str(m): decimal_of(p) for m, p in (row.per_contact or {}).items()},
        uncharged_results=frozenset(str(r) for r in (row.uncharged_results or [])),
    )


async def rates(session: AsyncSession, tenant_id: int) -> TenantRate | None:
    return await session.scalar(select(TenantRate).where(TenantRate.tenant_id == tenant_id))


async def set_rates(session: AsyncSession, tenant_id: int, rates: TenantRates,
                    at: dt.datetime) -> TenantRate:
    row = await session.get(TenantRate, tenant_id)
    if row is None:
        row = TenantRate(tenant_id=tenant_id)
        session.add(row)
    row.currency = rates.currency
    row.per_trunk_minute = str(rates.per_trunk_minute)
    row.per_agent_minute = str(rates.per_agent_minute)
    row.per_contact = {m: str(p) for m, p in sorted(rates.per_contact.items())}
    row.uncharged_results = sorted(rates.uncharged_results)
    row.updated_at = at
    await session.flush()
    return row
