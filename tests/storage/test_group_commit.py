"""Group commit on both backends: shared transactions, save-then-return, one failure alone."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.storage.batch import GroupCommit
from ccari.storage.models import Tenant


def _tenant(slug: str):  # type: ignore[no-untyped-def]
    def job(s: Session) -> str:
        s.add(Tenant(slug=slug, name=slug.title(), created_at=dt.datetime.now(dt.UTC)))
        s.flush()
        return slug

    return job


async def _count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Tenant)) or 0)


async def test_jobs_waiting_together_share_one_commit_and_return_once_saved(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)
    before = await _count(sessions)
    try:
        results = await asyncio.gather(*(writes.run(_tenant(f"t{i}")) for i in range(20)))
        assert results == [f"t{i}" for i in range(20)]
        # Each caller got its answer after the commit: another session sees every row.
        assert await _count(sessions) == before + 20
        assert writes.jobs == 20 and writes.batches < 20
    finally:
        await writes.close()


async def test_a_failing_job_fails_alone(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)
    before = await _count(sessions)

    def broken(s: Session) -> None:
        s.add(Tenant(slug="half", name="Half", created_at=dt.datetime.now(dt.UTC)))
        s.flush()
        raise ValueError("bad input")

    try:
        outcome = await asyncio.gather(writes.run(_tenant("a")), writes.run(broken),
                                       writes.run(_tenant("b")), return_exceptions=True)
        assert outcome[0] == "a" and outcome[2] == "b"
        assert isinstance(outcome[1], ValueError)
        assert await _count(sessions) == before + 2  # "half" was rolled back
    finally:
        await writes.close()


async def test_a_job_the_database_refuses_fails_and_the_worker_goes_on(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)
    try:
        await writes.run(_tenant("dup"))
        with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
            await writes.run(_tenant("dup"))  # unique slug
        assert await writes.run(_tenant("after")) == "after"  # the worker goes on
    finally:
        await writes.close()
    with pytest.raises(RuntimeError):
        await writes.run(_tenant("closed"))
