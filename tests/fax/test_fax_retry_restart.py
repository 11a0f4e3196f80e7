"""A fax retry planned by a process that died is dialled by the next one: the send's saved
``retry_at`` is planned again when ARI connects (an adapter test: the originate is recorded,
not sent to Asterisk)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.fax import sending
from ccari.fax.models import FaxAttempt, FaxSend
from ccari.fax.sending import FaxSender
from ccari.fax.store import FaxStore
from ccari.storage.models import Tenant
from tests.fax.conftest import fax_pages
from tests.fax.test_fax_send_pbx import pdf_of
from tests.support.waits import eventually


class RecordingAri:
    """What the sender asks of ARI, kept (nothing else is used here)."""

    def __init__(self) -> None:
        self.originated: list[str] = []

    async def originate(self, endpoint: str, *, channel_id: str, **_: Any) -> None:
        self.originated.append(channel_id)


async def saved_retry(sessions: async_sessionmaker[AsyncSession], store: FaxStore) -> int:
    """A send whose first attempt met a busy line, its retry due now."""
    now = dt.datetime.now(dt.UTC)
    async with sessions() as s:
        tenant = Tenant(slug="faxer", name="Faxer")
        s.add(tenant)
        await s.flush()
        s.add(FaxSend(id="s1", tenant_id=tenant.id, to_number="12015550142", pages=1,
                      status="retrying", pdf_sha256="x", retry_at=now, retries_left=1))
        await s.flush()
        s.add(FaxAttempt(id="fxo-s1-1", send_id="s1", tenant_id=tenant.id, status="failed",
                         error="user-busy", started_at=now, ended_at=now))
        await s.commit()
        tenant_id = tenant.id
    store.keep_outbound(tenant_id, "s1", pdf_of(fax_pages(1)))
    return tenant_id


def sender_of(sessions: async_sessionmaker[AsyncSession], store: FaxStore, tmp_path: Path,
              **changes: Any) -> FaxSender:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    return FaxSender(sessions, store, spool=spool, asterisk_spool=PurePosixPath("/spool"),
                     dial="PJSIP/{trunk}/sip:{digits}@{host}", trunk="carrier",
                     host="127.0.0.2:5060", **{"admission": None, "retries": 1,
                                               "retry_after_s": 60, **changes})


async def test_a_saved_retry_is_dialled_by_the_next_process(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    store = FaxStore(tmp_path / "fax")
    await saved_retry(sessions, store)
    ari = RecordingAri()
    sender = sender_of(sessions, store, tmp_path)
    sender.ari = ari  # type: ignore[assignment]
    try:
        assert await sender.plan_retries() == 1
        assert await sender.plan_retries() == 1  # planned again on a reconnect: still once

        async def dialled() -> list[str]:
            return ari.originated

        assert await eventually(dialled, 10, "the retry to be dialled") == ["fxo-s1-2"]
        async with sessions() as s:
            got = await s.scalar(select(FaxSend).where(FaxSend.id == "s1"))
            assert got is not None and (got.status, got.retry_at) == ("sending", None)
            attempts = (await s.execute(select(FaxAttempt.id, FaxAttempt.requested_by).where(
                FaxAttempt.send_id == "s1").order_by(FaxAttempt.id))).tuples().all()
        # Nobody asked for the retry: ccari dialled it again by itself.
        assert attempts == [("fxo-s1-1", None), ("fxo-s1-2", "retry")]
    finally:
        await sender.close()


async def test_a_retry_whose_document_cannot_be_written_stays_planned(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk is full when the retry is due: no attempt is saved that nothing dials (the
    send stays "retrying"), and the next start dials it."""
    store = FaxStore(tmp_path / "fax")
    await saved_retry(sessions, store)
    ari = RecordingAri()
    sender = sender_of(sessions, store, tmp_path)
    sender.ari = ari  # type: ignore[assignment]

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(sending, "write_durably", full)
        with pytest.raises(OSError):
            await sender._again("s1", "retrying", "retry")  # noqa: SLF001
    async with sessions() as s:
        send = await s.get(FaxSend, "s1")
        tries = (await s.scalars(select(FaxAttempt.id).where(FaxAttempt.send_id == "s1"))).all()
    assert send is not None and send.status == "retrying" and tries == ["fxo-s1-1"]
    try:
        assert await sender.plan_retries() == 1

        async def dialled() -> list[str]:
            return ari.originated

        assert await eventually(dialled, 10, "the retry to be dialled") == ["fxo-s1-2"]
    finally:
        await sender.close()


class FailingAdmission:
    """Trunk admission whose database is away."""

    async def admit_outbound(self, tenant_id: int, call_id: str) -> Any:
        raise ConnectionRefusedError("the database is away")

    async def release(self, call_id: str) -> None:
        pass


async def test_an_attempt_that_cannot_be_dialled_ends_instead_of_staying_open(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """Trunk admission fails as the attempt is dialled: the attempt ends lost and the send
    is retried as after any lost attempt, not left "sending" until the next ARI connect."""
    store = FaxStore(tmp_path / "fax")
    await saved_retry(sessions, store)
    ari = RecordingAri()
    sender = sender_of(sessions, store, tmp_path, admission=FailingAdmission(), retries=1)
    sender.ari = ari  # type: ignore[assignment]
    try:
        await sender._again("s1", "retrying", "retry")  # noqa: SLF001

        async def settled() -> FaxAttempt | None:
            async with sessions() as s:
                attempt = await s.get(FaxAttempt, "fxo-s1-2")
            return attempt if attempt is not None and attempt.status != "dialing" else None

        attempt = await eventually(settled, 10, "the attempt settled")
        assert (attempt.status, attempt.error) == ("failed", "dial-failed")
        assert ari.originated == []
        async with sessions() as s:
            send = await s.get(FaxSend, "s1")
        assert send is not None and send.status in ("failed", "retrying")
    finally:
        await sender.close()
