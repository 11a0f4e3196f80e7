"""Usage accounting and bills: pure computation from usage records and per-tenant rates.

Seconds
    Every record's trunk, queue and talk seconds are billed per second: each record's value is
    rounded to the millisecond (to shed float noise such as 12.000000001) and then *up* to a
    whole second (a started second counts). The usage report shows the same whole seconds
    the bill charges, so the two always agree.

Money
    ``Decimal`` throughout, never float. A time line's amount is
    ``seconds * rate_per_minute / 60`` rounded once, at the line total, to the cent with
    ROUND_HALF_UP; a contact line is ``count * rate`` rounded the same way. The bill total is
    the sum of the (already rounded) lines, so the lines always add up to the total. The
    quantity shown on a time line is in minutes to 4 decimal places, for reading only.

Contacts
    Every record is one contact. Per-contact charges apply by medium, except to results in
    ``TenantRates.uncharged_results`` (default: ``rejected``, a call turned away before
    answer). Rejected contacts still appear in the usage report.

Periods are half-open, ``[start, end)``, on ``started_at`` (timezone-aware datetimes).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MINUTE_QUANTITY = Decimal("0.0001")
SIXTY = Decimal(60)


def billed_seconds(seconds: float) -> int:
    """Whole seconds billed for a duration: millisecond-rounded, then rounded up."""
    return math.ceil(round(seconds, 3))


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One contact (call, chat, email, fax, callback...) and the resources it used."""

    tenant: str
    contact_id: str
    medium: str
    result: str
    started_at: datetime
    trunk_s: float = 0.0
    queue_s: float = 0.0
    talk_s: float = 0.0

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        for name in ("trunk_s", "queue_s", "talk_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class TenantRates:
    """A tenant's prices: per trunk minute, per agent (talk) minute, per contact by medium."""

    tenant: str
    currency: str = "EUR"
    per_trunk_minute: Decimal = Decimal(0)
    per_agent_minute: Decimal = Decimal(0)
    per_contact: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    uncharged_results: frozenset[str] = frozenset({"rejected"})

    def __post_init__(self) -> None:
        prices = [self.per_trunk_minute, self.per_agent_minute, *self.per_contact.values()]
        for price in prices:
            if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
                raise ValueError(f"rates must be finite Decimals >= 0, got {price!r}")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Usage of one tenant for one medium and result over a period (whole seconds)."""

    tenant: str
    medium: str
    result: str
    contacts: int
    trunk_s: int
    queue_s: int
    talk_s: int


@dataclass(frozen=True, slots=True)
class UsageReport:
    period_start: datetime
    period_end: datetime
    rows: tuple[UsageRow, ...]

    def to_dict(self) -> dict[str, object]:
        totals: dict[str, dict[str, int]] = {}
        for r in self.rows:
            t = totals.setdefault(r.tenant, dict.fromkeys(_TOTAL_KEYS, 0))
            t["contacts"] += r.contacts
            t["trunk_s"] += r.trunk_s
            t["queue_s"] += r.queue_s
            t["talk_s"] += r.talk_s
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "rows": [
                {
                    "tenant": r.tenant,
                    "medium": r.medium,
                    "result": r.result,
                    "contacts": r.contacts,
                    "trunk_s": r.trunk_s,
                    "queue_s": r.queue_s,
                    "talk_s": r.talk_s,
                }
                for r in self.rows
            ],
            "totals": totals,
        }


_TOTAL_KEYS = ("contacts", "trunk_s", "queue_s", "talk_s")
USAGE_CSV_HEADER = ("tenant", "medium", "result", "contacts", "trunk_s", "queue_s", "talk_s")


@dataclass(frozen=True, slots=True)
class BillLine:
    item: str  # "trunk-minutes", "agent-minutes", "contacts:<medium>"
    description: str
    quantity: Decimal
    unit: str  # "minute" or "contact"
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Bill:
    tenant: str
    currency: str
    period_start: datetime
    period_end: datetime
    lines: tuple[BillLine, ...]
    total: Decimal

    def to_dict(self) -> dict[str, object]:
        """JSON-able; money and quantities as strings, so no float ever touches them."""
        return {
            "tenant": self.tenant,
            "currency": self.currency,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "lines": [
                {
                    "item": line.item,
                    "description": line.description,
                    "quantity": str(line.quantity),
                    "unit": line.unit,
                    "unit_price": str(line.unit_price),
                    "amount": str(line.amount),
                }
                for line in self.lines
            ],
            "total": str(self.total),
        }


BILL_CSV_HEADER = (
    "tenant",
    "currency",
    "period_start",
    "period_end",
    "item",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
)


def _in_period(records: Iterable[UsageRecord], start: datetime, end: datetime) -> list[UsageRecord]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds must be timezone-aware")
    if end < start:
        raise ValueError("period ends before it starts")
    return [r for r in records if start <= r.started_at < end]


def usage_report(
    records: Iterable[UsageRecord],
    start: datetime,
    end: datetime,
    *,
    tenant: str | None = None,
) -> UsageReport:
    """Usage per tenant, medium and result over ``[start, end)``; one tenant if given."""
    acc: dict[tuple[str, str, str], list[int]] = {}
    for r in _in_period(records, start, end):
        if tenant is not None and r.tenant != tenant:
            continue
        row = acc.setdefault((r.tenant, r.medium, r.result), [0, 0, 0, 0])
        row[0] += 1
        row[1] += billed_seconds(r.trunk_s)
        row[2] += billed_seconds(r.queue_s)
        row[3] += billed_seconds(r.talk_s)
    rows = tuple(UsageRow(t, m, res, *acc[(t, m, res)]) for t, m, res in sorted(acc))
    return UsageReport(start, end, rows)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _time_line(item: str, description: str, seconds: int, per_minute: Decimal) -> BillLine:
    minutes = (Decimal(seconds) / SIXTY).quantize(MINUTE_QUANTITY, rounding=ROUND_HALF_UP)
    amount = _money(Decimal(seconds) * per_minute / SIXTY)
    return BillLine(item, description, minutes, "minute", per_minute, amount)


def bill(
    records: Iterable[UsageRecord],
    rates: TenantRates,
    start: datetime,
    end: datetime,
) -> Bill:
    """The tenant's bill for ``[start, end)``: trunk minutes, agent minutes, contacts."""
    report = usage_report(records, start, end, tenant=rates.tenant)
    trunk_s = sum(r.trunk_s for r in report.rows)
    talk_s = sum(r.talk_s for r in report.rows)
    contacts: dict[str, int] = {}
    for r in report.rows:
        if r.result not in rates.uncharged_results:
            contacts[r.medium] = contacts.get(r.medium, 0) + r.contacts
    lines = [
        _time_line("trunk-minutes", "trunk time", trunk_s, rates.per_trunk_minute),
        _time_line("agent-minutes", "agent talk time", talk_s, rates.per_agent_minute),
    ]
    for medium in sorted(contacts):
        price = rates.per_contact.get(medium, Decimal(0))
        count = contacts[medium]
        lines.append(
            BillLine(
                f"contacts:{medium}",
                f"{medium} contacts",
                Decimal(count),
                "contact",
                price,
                _money(count * price),
            )
        )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Bill(rates.tenant, rates.currency, start, end, tuple(lines), total)


def _csv(header: tuple[str, ...], rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def usage_csv(report: UsageReport) -> str:
    """The usage report as CSV (RFC 4180, CRLF line ends), one row per tenant/medium/result."""
    return _csv(
        USAGE_CSV_HEADER,
        (
            (r.tenant, r.medium, r.result, r.contacts, r.trunk_s, r.queue_s, r.talk_s)
            for r in report.rows
        ),
    )


def bill_csv(bill: Bill) -> str:
    """The bill as CSV: one row per line item, then a ``total`` row."""
    head = (bill.tenant, bill.currency, bill.period_start.isoformat(), bill.period_end.isoformat())
    rows: list[tuple[object, ...]] = [
        (*head, li.item, li.description, li.quantity, li.unit, li.unit_price, li.amount)
        for li in bill.lines
    ]
    rows.append((*head, "total", "total", "", "", "", bill.total))
    return _csv(BILL_CSV_HEADER, rows)


def bills(
    records: Iterable[UsageRecord],
    rates: Mapping[str, TenantRates],
    start: datetime,
    end: datetime,
) -> dict[str, Bill]:
    """A bill for every tenant that has rates."""
    kept = list(records)
    return {tenant: bill(kept, r, start, end) for tenant, r in sorted(rates.items())}
