"""The security log: blocks of SIP source addresses (PBX-wide, not tenant data)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.security.models import SecurityBlock
from ccari.security.policy import Block


def _at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def to_block(row: SecurityBlock) -> Block:
    until = row.until if row.lifted_at is None else min(row.until, row.lifted_at)
    return Block(row.address, row.reason, row.failures, row.at.timestamp(), until.timestamp(),
                 row.offence)


def add(session: AsyncSession, block: Block) -> SecurityBlock:
    row = SecurityBlock(address=block.address, reason=block.reason[:100],
                        failures=block.failures, offence=block.offence,
                        at=_at(block.at), until=_at(block.until), lifted_by="")
    session.add(row)
    return row


async def since(session: AsyncSession, since_ts: float) -> list[SecurityBlock]:
    """Blocks that started after ``since_ts`` or are still running (not lifted)."""
    q = select(SecurityBlock).where(
        (SecurityBlock.at >= _at(since_ts)) | (SecurityBlock.until > _at(since_ts))
    ).order_by(SecurityBlock.at)
    return list(await session.scalars(q))


async def active(session: AsyncSession, now: float) -> list[SecurityBlock]:
    q = select(SecurityBlock).where(
        SecurityBlock.until > _at(now), SecurityBlock.lifted_at.is_(None)
    ).order_by(SecurityBlock.at)
    return list(await session.scalars(q))


async def log(session: AsyncSession, limit: int) -> list[SecurityBlock]:
    q = select(SecurityBlock).order_by(SecurityBlock.at.desc(), SecurityBlock.id.desc())
    return list(await session.scalars(q.limit(limit)))


async def lift(session: AsyncSession, address: str, now: float, who: str) -> int:
    """End every running block of ``address``; how many there were."""
    rows = await active(session, now)
    n = 0
    for row in rows:
        if row.address == address:
            row.lifted_at, row.lifted_by = _at(now), who[:100]
            n += 1
    return n
