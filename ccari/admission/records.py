"""What trunk admission left behind, read back: its decisions, a tenant's usage and bill
(from the contact rows, see :mod:`.accounting`), and the tenant's rates.

Nothing here takes part in a decision; :class:`ccari.admission.service.AdmissionService`
makes them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.admission import accounting, repo
from ccari.admission.billing import Bill, TenantRates, UsageReport
from ccari.admission.models import AdmissionDecision
from ccari.errors import NotFound


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class AdmissionRecords:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock

    async def decisions(
        self, tenant_id: int, *, limit: int = 50, refused_only: bool = False
    ) -> list[AdmissionDecision]:
        async with self._sessions() as s:
            return list(await repo.decisions(s, tenant_id, limit=limit, refused_only=refused_only))

    async def usage(self, tenant_id: int, start: dt.datetime, end: dt.datetime) -> UsageReport:
        """Usage of ``[start, end)`` from the contact rows (see :mod:`.accounting`)."""
        async with self._sessions() as s:
            return await accounting.usage(s, tenant_id, start, end, utc(self._clock()))

    async def bill(self, tenant_id: int, start: dt.datetime, end: dt.datetime) -> Bill:
        async with self._sessions() as s:
            return await accounting.tenant_bill(s, tenant_id, start, end, utc(self._clock()))

    async def rates(self, tenant_id: int) -> TenantRates | None:
        async with self._sessions() as s:
            row = await repo.rates(s, tenant_id)
            tenant = await repo.tenant(s, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", error_id="tenant-not-found")
        return None if row is None else repo.rates_of(row, tenant.slug)

    async def set_rates(self, tenant_id: int, rates: TenantRates) -> TenantRates:
        async with self._sessions() as s:
            tenant = await repo.tenant(s, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", error_id="tenant-not-found")
            await repo.set_rates(s, tenant_id, rates, utc(self._clock()))
            await s.commit()
        return dataclasses.replace(rates, tenant=tenant.slug)
