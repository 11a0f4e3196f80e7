"""The tenant's recordings: listed by contact, their audio, deleted on request or when the
tenant's retention has passed (the ``recording:retention`` task, ``plugin.py``).

Every query names the tenant: another tenant's recording is "not found".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts import repo
from ccari.errors import CcariError, NotFound
from ccari.recording import files, policy
from ccari.recording.models import Recording
from ccari.storage.models import Tenant

log = logging.getLogger(__name__)
LIST_LIMIT = 200
CHECKED_MAX = 1024


class Damaged(CcariError):
    """The recording's file no longer matches its checksum (or is missing)."""

    error_id = "recording-damaged"
    status = 500


def view(r: Recording) -> dict[str, Any]:
    return {"id": r.id, "contact_id": r.contact_id, "state": r.state,
            "started_at": r.started_at.isoformat(),
            "ended_at": r.ended_at.isoformat() if r.ended_at else None,
            "duration_s": r.duration_s, "size": r.size, "sha256": r.sha256,
            "pauses": [{"from_s": a, "to_s": b} for a, b in r.pauses],
            "audio": f"/api/recordings/{r.id}/audio" if r.state == "stored" else None}


class Library:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], state_dir: Path,
                 now: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._dir = state_dir
        self._now = now
        # Recordings whose file matched its checksum, with its (inode, size, mtime, ctime)
        # then: a file written or replaced since is checked again.
        self._checked: dict[str, tuple[int, ...]] = {}

    async def recordings(self, tenant_id: int, contact_id: str | None) -> list[dict[str, Any]]:
        q = select(Recording).where(Recording.tenant_id == tenant_id, Recording.state != "lost")
        if contact_id is not None:
            q = q.where(Recording.contact_id == contact_id)
        async with self._sessions() as s:
            rows = await s.scalars(q.order_by(Recording.started_at.desc()).limit(LIST_LIMIT))
            return [view(r) for r in rows]

    async def _row(self, s: AsyncSession, tenant_id: int, recording_id: str) -> Recording:
        row = await s.get(Recording, recording_id)
        if row is None or row.tenant_id != tenant_id or row.state == "lost":
            raise NotFound("no such recording", error_id="recording-not-found")
        return row

    async def get(self, tenant_id: int, recording_id: str) -> dict[str, Any]:
        async with self._sessions() as s:
            return view(await self._row(s, tenant_id, recording_id))

    async def row(self, tenant_id: int, recording_id: str) -> Recording:
        """The tenant's recording (404 ``recording-not-found`` for anyone else's)."""
        async with self._sessions() as s:
            return await self._row(s, tenant_id, recording_id)

    async def audio_file(self, row: Recording) -> Path:
        """The stored recording's file, checked against its SHA-256 (500
        ``recording-damaged`` when it is missing or no longer matches).  A file checked
        once is not read again while its inode, size and times stay the same: a player's
        range requests, one per seek, each get the file without a new pass over it."""
        if row.state != "stored" or row.path is None or row.sha256 is None:
            raise NotFound("the recording is not finished", error_id="recording-not-ready")
        path = self._dir / row.path
        stamp: tuple[int, ...] | None
        try:
            st = await asyncio.to_thread(path.stat)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp is None or self._checked.get(row.id) != stamp:
            if stamp is None or not await asyncio.to_thread(files.intact, path, row.sha256):
                log.error("recording %s: file %s missing or damaged", row.id, row.path)
                raise Damaged()
            if len(self._checked) >= CHECKED_MAX:
                self._checked.pop(next(iter(self._checked)))
            self._checked[row.id] = stamp
        return path

    async def delete(self, tenant_id: int, recording_id: str, by: str) -> None:
        """Delete on request: the row and its file; the contact's log says who and when."""
        async with self._sessions() as s:
            row = await self._row(s, tenant_id, recording_id)
            if row.state != "stored":
                raise NotFound("the recording is not finished", error_id="recording-not-ready")
            await self._delete(s, row, by)
            await s.commit()

    async def _delete(self, s: AsyncSession, row: Recording, by: str) -> None:
        contact = await repo.get(s, row.contact_id, row.tenant_id)
        if contact is not None:
            await repo.log(s, contact, "recording-deleted", self._now(), recording=row.id, by=by)
        if row.path:
            await asyncio.to_thread(files.remove, self._dir, row.path)
        await s.delete(row)

    async def retention_pass(self) -> list[str]:
        """Delete the stored recordings past their tenant's retention; their ids."""
        now = self._now()
        async with self._sessions() as s:
            days = {t.id: (t.recording or {}).get("retention_days")
                    for t in await s.scalars(select(Tenant))}
            kept = [policy.Kept(r.id, r.tenant_id, r.started_at) for r in await s.scalars(
                select(Recording).where(Recording.state == "stored"))]
            doomed = policy.expired(kept, days, now)
            for recording_id in doomed:
                row = await s.get(Recording, recording_id)
                if row is not None:
                    await self._delete(s, row, "retention")
            await s.commit()
        if doomed:
            log.info("retention: %d recording(s) deleted", len(doomed))
        return doomed
