"""Upgrading a database whose faxes were sent before each attempt kept who asked for it: the
first attempt of a send takes the send's requester; later ones (a resend or a retry, which
the old rows cannot tell apart) stay unknown."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from ccari.config import Config
from ccari.demo.seed import seed
from ccari.fax.models import FaxAttempt
from ccari.storage.db import alembic_config
from ccari.storage.models import Tenant


async def test_a_sends_first_attempt_takes_its_requester_on_upgrade(
        db_url: str, cfg: Config, sessions: Any) -> None:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
        acme = await s.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
    alembic = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, alembic, "0020f")
    async with sessions() as s:
        for send, sent_by in (("s1", "admin-token"), ("s2", None)):
            await s.execute(sa.text(
                "INSERT INTO fax_sends (id, tenant_id, to_number, pages, status, pdf_sha256,"
                " created_at, retries_left, sent_by) VALUES (:id, :tenant, '12015550100', 1,"
                " 'failed', 'x', CURRENT_TIMESTAMP, 0, :sent_by)"),
                {"id": send, "tenant": acme, "sent_by": sent_by})
            for n in (1, 2):
                await s.execute(sa.text(
                    "INSERT INTO fax_attempts (id, send_id, tenant_id, status, pages,"
                    " started_at) VALUES (:id, :send, :tenant, 'failed', 0, CURRENT_TIMESTAMP)"),
                    {"id": f"fxo-{send}-{n}", "send": send, "tenant": acme})
        await s.commit()
    await asyncio.to_thread(command.upgrade, alembic, "heads")
    async with sessions() as s:
        got = dict((await s.execute(select(FaxAttempt.id, FaxAttempt.requested_by)))
                   .tuples().all())
    assert got == {"fxo-s1-1": "admin-token", "fxo-s1-2": None,
                   "fxo-s2-1": None, "fxo-s2-2": None}
