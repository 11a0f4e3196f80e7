"""Usage records from contact rows, for the pure :mod:`ccari.admission.billing`.

One record per contact that *arrived* in the period (half-open ``[start, end)``):

* trunk seconds: voice only, ``ended_at - arrived_at`` (the trunk is held from arrival, through
  IVR and queue, to the end of the call); other media hold no trunk;
* queue seconds: ``wait_s``; agent talk seconds: ``talk_s``;
* result: the contact's state (``completed``, ``abandoned``, ``rejected``, ``failed``...), so a
  tenant's ``uncharged_results`` (default ``rejected``) applies to it.

A contact still open when the report runs counts its seconds so far (``now``) and its current
state as result: run a bill once the period is over and its calls have ended.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from ccari.admission import repo
from ccari.admission.billing import Bill, UsageRecord, UsageReport, bill, usage_report
from ccari.errors import NotFound


def _seconds(later: dt.datetime, earlier: dt.datetime) -> float:
    return max((later - earlier).total_seconds(), 0.0)


def record_of(row: repo.UsageRow, tenant: str, now: dt.datetime) -> UsageRecord:
    trunk = _seconds(row.ended_at or now, row.arrived_at) if row.medium == "voice" else 0.0
    return UsageRecord(
        tenant=tenant,
        contact_id=row.id,
        medium=row.medium,
        result=row.state,
        started_at=row.arrived_at,
        trunk_s=trunk,
        queue_s=max(row.wait_s or 0.0, 0.0),
        talk_s=max(row.talk_s or 0.0, 0.0),
    )


async def _slug(session: AsyncSession, tenant_id: int) -> str:
    tenant = await repo.tenant(session, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant", error_id="tenant-not-found")
    return tenant.slug


def _check_period(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds must be timezone-aware")
    if end < start:
        raise ValueError("the period ends before it starts")


async def records(
    session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> tuple[str, list[UsageRecord]]:
    """The tenant's slug and one usage record per contact that arrived in ``[start, end)``."""
    _check_period(start, end)
    slug = await _slug(session, tenant_id)
    rows = await repo.contacts_in_period(session, tenant_id, start, end)
    return slug, [record_of(r, slug, now) for r in rows]


async def usage(
    session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> UsageReport:
    slug, recs = await records(session, tenant_id, start, end, now)
    return usage_report(recs, start, end, tenant=slug)


async def tenant_bill(
    session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Bill:
    slug, recs = await records(session, tenant_id, start, end, now)
    row = await repo.rates(session, tenant_id)
    if row is None:
        raise NotFound("no rates are set for this tenant", error_id="rates-not-set")
    return bill(recs, repo.rates_of(row, slug), start, end)
