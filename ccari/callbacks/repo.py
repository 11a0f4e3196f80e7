"""Callback rows, their attempts and the tenants' callback settings (every query by tenant
or by this node's own attempts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.callbacks.guard import DialPolicy
from ccari.callbacks.models import OPEN_STATUSES, Callback, CallbackAttempt, CallbackSettings
from ccari.callbacks.schedule import RetryPolicy
from ccari.storage.models import Agent, AgentSkill, Number


def defaults(tenant_id: int) -> CallbackSettings:
    """The settings of a tenant without its own row (nothing may be dialled: empty allow)."""
    return CallbackSettings(tenant_id=tenant_id, mode="customer_first", max_tries=3,
                            retry_after_s=120.0, retry_factor=2.0, retry_max_s=1800.0,
                            window_s=4 * 3600.0, ring_timeout_s=30, allow=[], deny=[],
                            caller_id="", after_lost_call=False)


async def settings(session: AsyncSession, tenant_id: int) -> CallbackSettings:
    row = await session.get(CallbackSettings, tenant_id)
    return row if row is not None else defaults(tenant_id)


def policy_of(row: CallbackSettings) -> DialPolicy:
    return DialPolicy.of(row.allow or [], row.deny or [])


def retry_of(row: CallbackSettings) -> RetryPolicy:
    return RetryPolicy(row.max_tries, row.retry_after_s, row.retry_factor, row.retry_max_s)


async def caller_id(session: AsyncSession, row: CallbackSettings) -> str:
    """The number the customer sees: the tenant's setting, else its first number."""
    if row.caller_id:
        return row.caller_id
    did = await session.scalar(
        select(Number.did).where(Number.tenant_id == row.tenant_id).order_by(Number.id).limit(1))
    return did or ""


async def has_skill(session: AsyncSession, tenant_id: int, name: str, value: str) -> bool:
    found = await session.scalar(
        select(AgentSkill.id).join(Agent, Agent.id == AgentSkill.agent_id)
        .where(Agent.tenant_id == tenant_id, AgentSkill.name == name, AgentSkill.value == value)
        .limit(1))
    return found is not None


async def get(session: AsyncSession, callback_id: str, tenant_id: int | None = None,
              *, for_update: bool = False) -> Callback | None:
    query = select(Callback).where(Callback.id == callback_id)
    if tenant_id is not None:
        query = query.where(Callback.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def by_contact(session: AsyncSession, contact_id: str) -> Callback | None:
    return await session.scalar(select(Callback).where(Callback.contact_id == contact_id))


async def by_request_key(session: AsyncSession, tenant_id: int, session_id: str | None,
                         key: str) -> Callback | None:
    return await session.scalar(select(Callback).where(
        Callback.tenant_id == tenant_id, Callback.session_id == session_id,
        Callback.request_key == key))


async def open_for_phone(session: AsyncSession, tenant_id: int, phone: str) -> Callback | None:
    return await session.scalar(select(Callback).where(
        Callback.tenant_id == tenant_id, Callback.phone == phone,
        Callback.status.in_(OPEN_STATUSES)).limit(1))


async def for_tenant(session: AsyncSession, tenant_id: int, statuses: Sequence[str] | None = None,
                     limit: int = 200) -> list[Callback]:
    query = select(Callback).where(Callback.tenant_id == tenant_id)
    if statuses:
        query = query.where(Callback.status.in_(statuses))
    return list(await session.scalars(
        query.order_by(Callback.next_attempt_at.is_(None), Callback.next_attempt_at,
                       Callback.created_at).limit(limit)))


async def due(session: AsyncSession, now: dt.datetime, limit: int = 20) -> list[str]:
    return list(await session.scalars(
        select(Callback.id).where(Callback.status == "pending", Callback.next_attempt_at <= now)
        .order_by(Callback.next_attempt_at).limit(limit)))


async def deferred(session: AsyncSession, tenant_id: int, now: dt.datetime,
                   limit: int = 500) -> list[Callback]:
    """The tenant's callbacks waiting for a trunk (deferred by admission, not yet due)."""
    return list(await session.scalars(
        select(Callback).where(Callback.tenant_id == tenant_id, Callback.status == "pending",
                               Callback.last_result.like("deferred-%"),
                               Callback.next_attempt_at > now)
        .order_by(Callback.next_attempt_at).limit(limit)))


async def claim(session: AsyncSession, callback_id: str, from_status: str, to_status: str,
                node: str) -> bool:
    """Move a callback from one status to the next if nobody else did (any node)."""
    result = await session.execute(
        update(Callback).where(Callback.id == callback_id, Callback.status == from_status)
        .values(status=to_status, node=node).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


async def next_wakeup(session: AsyncSession, node: str) -> dt.datetime | None:
    """The next time the scheduler has work: a due callback or an attempt to check."""
    first_due = await session.scalar(
        select(func.min(Callback.next_attempt_at)).where(Callback.status == "pending"))
    first_check = await session.scalar(
        select(func.min(CallbackAttempt.deadline)).where(
            CallbackAttempt.node == node, CallbackAttempt.result.is_(None)))
    times = [t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (first_due, first_check) if t]
    return min(times) if times else None


async def attempt(session: AsyncSession, attempt_id: str) -> CallbackAttempt | None:
    return await session.get(CallbackAttempt, attempt_id)


async def attempts(session: AsyncSession, callback_id: str) -> list[CallbackAttempt]:
    return list(await session.scalars(
        select(CallbackAttempt).where(CallbackAttempt.callback_id == callback_id)
        .order_by(CallbackAttempt.n)))


async def in_flight(session: AsyncSession, node: str, *, before: dt.datetime | None = None
                    ) -> list[CallbackAttempt]:
    """This node's attempts placed and not yet answered or ended (optionally: overdue)."""
    query = select(CallbackAttempt).where(CallbackAttempt.node == node,
                                          CallbackAttempt.result.is_(None))
    if before is not None:
        query = query.where(CallbackAttempt.deadline <= before)
    return list(await session.scalars(query.order_by(CallbackAttempt.started_at)))


async def at_prompt(session: AsyncSession, node: str) -> list[CallbackAttempt]:
    """This node's answered attempts whose customer has not pressed 1 yet."""
    return list(await session.scalars(
        select(CallbackAttempt).join(Callback, Callback.id == CallbackAttempt.callback_id)
        .where(CallbackAttempt.node == node, CallbackAttempt.result == "answered",
               Callback.status == "answered")))


async def stranded(session: AsyncSession, node: str) -> list[Callback]:
    """This node's callbacks claimed for dialling whose attempt was never saved (ccari
    stopped between the claim and the save: nothing was sent to Asterisk)."""
    flying = select(CallbackAttempt.callback_id).where(CallbackAttempt.result.is_(None))
    return list(await session.scalars(select(Callback).where(
        Callback.node == node, Callback.status == "dialing", Callback.id.not_in(flying))))
