"""Keeping recordings next to live calls: a recording's file coming slowly from Asterisk or
going slowly to the disk does not hold up the calls' database writes (SQLite: ccari has one
connection), and the backlog a full directory left is stored once the space is back, every
file, in order, paced.  The adapter is tested alone (a stand-in for ARI's stored-recordings
API, a real SQLite database and directory); the PBX proof is the fault matrix's disk-full
phase (tests/resilience/test_fault_matrix.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import hashlib
import io
import os
import threading
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.recording import files, services
from ccari.recording.models import Recording
from ccari.recording.services import Recordings
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Contact, Tenant
from tests.support.waits import eventually

AT = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
CALL_WRITE_S = 2.0  # a live call's write done within this while a file is on its way


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return buf.getvalue()


class StoredRecordings:
    """ARI's stored recordings: a file is handed over once ``gate`` is open."""

    def __init__(self, names: list[str]) -> None:
        self.audio = {name: wav(0.5 + i / 10) for i, name in enumerate(names)}
        self.gate = asyncio.Event()
        self.gate.set()
        self.fetching = asyncio.Event()
        self.deleted: list[str] = []

    async def stored_recording_file(self, name: str) -> bytes:
        self.fetching.set()
        await self.gate.wait()
        return self.audio[name]

    async def delete_stored_recording(self, name: str) -> None:
        self.deleted.append(name)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/ccari.db"
    await upgrade_async(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def recorded_calls(sessions: async_sessionmaker[AsyncSession], n: int) -> list[str]:
    """``n`` ended calls, each with its recording still to keep; the recordings' names."""
    async with sessions() as s:
        tenant = Tenant(slug="acme", name="Acme", created_at=AT)
        s.add(tenant)
        await s.flush()
        names = []
        for i in range(n):
            cid = f"c{i:03d}"
            s.add(Contact(id=cid, tenant_id=tenant.id, medium="voice", state="completed"))
            await s.flush()
            names.append(f"rec-{cid}-1")
            s.add(Recording(id=names[-1], tenant_id=tenant.id, contact_id=cid, node="n1",
                            state="recording", started_at=AT, pauses=[]))
        await s.commit()
    return names


def recorder(ari: StoredRecordings, sessions: async_sessionmaker[AsyncSession], state: Path,
             **kw: Any) -> Recordings:
    return Recordings(cast(Any, ari), sessions, state, cast(Any, None), node="n1",
                      now=lambda: AT, **kw)


async def a_call_writes(sessions: async_sessionmaker[AsyncSession], cid: str) -> None:
    """What a live call does all the time: a write of its own, committed."""
    async with sessions() as s:
        s.add(Contact(id=cid, tenant_id=1, medium="voice", state="queued"))
        await s.commit()


def seen(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def poll() -> bool:
        return check()

    return poll


async def stored(sessions: async_sessionmaker[AsyncSession], name: str) -> Recording:
    async with sessions() as s:
        row = await s.get(Recording, name)
    assert row is not None
    return row


async def test_a_file_coming_slowly_from_asterisk_does_not_hold_up_the_calls(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    [name] = await recorded_calls(sessions, 1)
    ari = StoredRecordings([name])
    ari.gate.clear()  # Asterisk's HTTP busy: the file takes its time
    rec = recorder(ari, sessions, tmp_path)
    keeping = asyncio.create_task(rec.finished(name))
    try:
        await asyncio.wait_for(ari.fetching.wait(), 5)
        await asyncio.wait_for(a_call_writes(sessions, "live-1"), CALL_WRITE_S)
    finally:
        ari.gate.set()
        await keeping
    row = await stored(sessions, name)
    assert (row.state, row.sha256) == ("stored", hashlib.sha256(ari.audio[name]).hexdigest())
    assert ari.deleted == [name]


async def test_a_file_going_slowly_to_the_disk_does_not_hold_up_the_calls(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    [name] = await recorded_calls(sessions, 1)
    ari = StoredRecordings([name])
    writing, disk = threading.Event(), threading.Event()
    write = files.write

    def slow_write(state_dir: Path, relative: str, data: bytes) -> str:
        writing.set()
        disk.wait(10)  # a slow fsync
        return write(state_dir, relative, data)

    monkeypatch.setattr(files, "write", slow_write)
    rec = recorder(ari, sessions, tmp_path)
    keeping = asyncio.create_task(rec.finished(name))
    try:
        await eventually(seen(writing.is_set), 5, "the file to be on its way to the disk")
        await asyncio.wait_for(a_call_writes(sessions, "live-1"), CALL_WRITE_S)
    finally:
        disk.set()
        await keeping
    assert (await stored(sessions, name)).state == "stored"


async def test_the_backlog_of_a_full_directory_is_stored_in_order_and_paced(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = await recorded_calls(sessions, 4)
    ari = StoredRecordings(names)
    full = True
    written: list[tuple[str, float]] = []
    write = files.write

    def disk(state_dir: Path, relative: str, data: bytes) -> str:
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append((Path(relative).stem, time.monotonic()))
        return write(state_dir, relative, data)

    monkeypatch.setattr(files, "write", disk)
    monkeypatch.setattr(services, "STORE_RETRY_S", (0.05, 0.1))
    rec = recorder(ari, sessions, tmp_path, pace=(0.2, 1e9))
    for name in names:  # the calls end while the directory is full
        await rec.finished(name)
    assert rec.store_failures == 1  # the others wait in line, not fetched
    await eventually(seen(lambda: rec.store_failures >= 2), 5, "a retry on the full directory")
    full = False  # the operator made room

    async def all_stored() -> bool:
        return all([(await stored(sessions, n)).state == "stored" for n in names])

    await eventually(all_stored, 10, "the backlog to be stored")
    assert [n for n, _ in written] == names and ari.deleted == names
    gaps = [b - a for (_, a), (_, b) in zip(written, written[1:], strict=False)]
    assert min(gaps) >= 0.2, gaps
    for name in names:
        row = await stored(sessions, name)
        assert files.read(tmp_path, files.relative_path(row.tenant_id, name),
                          row.sha256 or "") == ari.audio[name]
    await rec.close()
