"""Mailboxes and messages.  Every query names the tenant, except the intake's lookup of a
recipient address (addresses are unique across tenants) and the outbox scan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.email.models import EmailMessage, Mailbox
from ccari.storage.models import Customer


async def mailbox_by_address(session: AsyncSession, address: str) -> Mailbox | None:
    return await session.scalar(select(Mailbox).where(Mailbox.address == address.lower()))


async def mailbox(session: AsyncSession, tenant_id: int, mailbox_id: int | None) -> Mailbox | None:
    if mailbox_id is None:
        return None
    return await session.scalar(
        select(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.tenant_id == tenant_id))


async def mailboxes(session: AsyncSession, tenant_id: int) -> list[Mailbox]:
    return list(await session.scalars(
        select(Mailbox).where(Mailbox.tenant_id == tenant_id).order_by(Mailbox.id)))


async def own_address(session: AsyncSession, address: str) -> bool:
    """Is this one of ccari's mailboxes (of any tenant)?  The auto-reply loop guard."""
    return await mailbox_by_address(session, address) is not None


async def by_message_id(session: AsyncSession, tenant_id: int, message_id: str) -> EmailMessage | None:
    return await session.scalar(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.message_id == message_id))


async def thread_contact_id(session: AsyncSession, tenant_id: int, ids: Sequence[str]) -> str | None:
    """The contact of the most recent of this tenant's messages named by ``ids``."""
    if not ids:
        return None
    return await session.scalar(
        select(EmailMessage.contact_id)
        .where(EmailMessage.tenant_id == tenant_id, EmailMessage.message_id.in_(list(ids)))
        .order_by(EmailMessage.at.desc(), EmailMessage.id.desc()).limit(1))


async def thread(session: AsyncSession, tenant_id: int, contact_id: str,
                 limit: int = 100) -> list[EmailMessage]:
    rows = await session.scalars(
        select(EmailMessage)
        .where(EmailMessage.tenant_id == tenant_id, EmailMessage.contact_id == contact_id)
        .order_by(EmailMessage.at.desc(), EmailMessage.id.desc()).limit(limit))
    return list(reversed(list(rows)))


async def first_message(session: AsyncSession, tenant_id: int, contact_id: str) -> EmailMessage | None:
    return await session.scalar(
        select(EmailMessage)
        .where(EmailMessage.tenant_id == tenant_id, EmailMessage.contact_id == contact_id)
        .order_by(EmailMessage.at, EmailMessage.id).limit(1))


async def customer_addresses(session: AsyncSession, tenant_id: int, contact_id: str) -> set[str]:
    """Every address the customer side of a thread wrote from or asked answers to."""
    rows = await session.execute(
        select(EmailMessage.from_address, EmailMessage.to_address)
        .where(EmailMessage.tenant_id == tenant_id, EmailMessage.contact_id == contact_id,
               EmailMessage.direction == "in"))
    return {a.lower() for pair in rows.tuples() for a in pair if a}


async def last_inbound(session: AsyncSession, tenant_id: int, contact_id: str) -> EmailMessage | None:
    return await session.scalar(
        select(EmailMessage)
        .where(EmailMessage.tenant_id == tenant_id, EmailMessage.contact_id == contact_id,
               EmailMessage.direction == "in")
        .order_by(EmailMessage.at.desc(), EmailMessage.id.desc()).limit(1))


async def ack_of(session: AsyncSession, tenant_id: int, message_id: str) -> EmailMessage | None:
    return await session.scalar(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.kind == "ack",
        EmailMessage.in_reply_to == message_id).limit(1))


async def acks_since(session: AsyncSession, tenant_id: int, to_address: str, since: dt.datetime) -> int:
    """How many acknowledgements this address got lately (one per window: RFC 3834 5.)."""
    return int(await session.scalar(select(func.count()).select_from(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.kind == "ack",
        EmailMessage.to_address == to_address, EmailMessage.at >= since)) or 0)


async def customer_by_email(session: AsyncSession, tenant_id: int, address: str) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id,
                               func.lower(Customer.email) == address.lower()).limit(1))


# ---- the outbox -------------------------------------------------------------------------------

async def due(session: AsyncSession, now: dt.datetime, limit: int = 20) -> list[EmailMessage]:
    return list(await session.scalars(
        select(EmailMessage)
        .where(EmailMessage.status == "pending", EmailMessage.next_attempt_at <= now)
        .order_by(EmailMessage.next_attempt_at, EmailMessage.id).limit(limit)))


async def next_due(session: AsyncSession) -> dt.datetime | None:
    return await session.scalar(
        select(func.min(EmailMessage.next_attempt_at)).where(EmailMessage.status == "pending"))


async def claim(session: AsyncSession, row: EmailMessage, node: str, lease_until: dt.datetime) -> bool:
    """Take one pending message for one attempt (the caller commits).  Several nodes may scan
    the same outbox: the attempt counter makes the claim a compare-and-set."""
    seen = row.attempts
    result = await session.execute(
        update(EmailMessage)
        .where(EmailMessage.id == row.id, EmailMessage.status == "pending",
               EmailMessage.attempts == seen)
        .values(attempts=seen + 1, next_attempt_at=lease_until, claimed_by=node)
        .execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


async def release_claims(session: AsyncSession, node: str, now: dt.datetime) -> int:
    """At start-up: the sends this node had in progress when it stopped are due again now."""
    result = await session.execute(
        update(EmailMessage)
        .where(EmailMessage.status == "pending", EmailMessage.claimed_by == node,
               EmailMessage.next_attempt_at > now)
        .values(next_attempt_at=now, claimed_by=None)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def retry_now(session: AsyncSession, now: dt.datetime) -> int:
    """The relay answers again: the messages waiting for their next try are due now (not
    the ones an attempt holds)."""
    result = await session.execute(
        update(EmailMessage)
        .where(EmailMessage.status == "pending", EmailMessage.claimed_by.is_(None),
               EmailMessage.attempts > 0, EmailMessage.next_attempt_at > now)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def finish(session: AsyncSession, message_id: int, *, status: str, at: dt.datetime,
                 error: str | None = None, next_attempt_at: dt.datetime | None = None) -> None:
    await session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id)
        .values(status=status, last_error=error[:300] if error else None, claimed_by=None,
                next_attempt_at=next_attempt_at, sent_at=at if status == "sent" else None))
