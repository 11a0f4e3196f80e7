"""Frames (a customer's batch too large for a notification), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from ccari.cobrowse import repo
from ccari.cobrowse.models import CobrowseFrame

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


async def test_a_frame_is_read_back_deleted_by_its_only_reader_or_when_old(sessions) -> None:  # type: ignore[no-untyped-def]
    body = '{"type":"events","events":[' + "x" * 100_000 + "]}"
    async with sessions() as s:
        only = await repo.add_frame(s, "s1", body, T0)
        shared = await repo.add_frame(s, "s1", "shared", T0)
        fresh = await repo.add_frame(s, "s1", "fresh", T0 + dt.timedelta(seconds=90))
        await s.commit()
    async with sessions() as s:
        assert await repo.take_frame(s, only, delete=True) == body
        await s.commit()
    async with sessions() as s:
        assert await repo.take_frame(s, only, delete=True) is None
        for _ in range(2):  # several readers: each reads it, none deletes it
            assert await repo.take_frame(s, shared, delete=False) == "shared"
        await repo.drop_frames(s, T0 + dt.timedelta(seconds=60))
        await s.commit()
    async with sessions() as s:
        assert await repo.take_frame(s, shared, delete=False) is None
        assert await repo.take_frame(s, fresh, delete=False) == "fresh"
        assert await s.scalar(select(func.count()).select_from(CobrowseFrame)) == 1
