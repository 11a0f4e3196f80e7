"""Usage report and bills: per-second, Decimal, rounded to cents at the line total."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ccari.admission.billing import (
    Bill,
    TenantRates,
    UsageRecord,
    bill,
    bill_csv,
    billed_seconds,
    bills,
    usage_csv,
    usage_report,
)

START = datetime(2024, 5, 1, tzinfo=UTC)
END = datetime(2024, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def rec(
    medium: str = "voice",
    result: str = "answered",
    trunk: float = 0.0,
    queue: float = 0.0,
    talk: float = 0.0,
    tenant: str = "acme",
    at: datetime = START + DAY,
    cid: str = "c",
) -> UsageRecord:
    return UsageRecord(tenant, cid, medium, result, at, trunk, queue, talk)


RECORDS = [
    rec(trunk=125.2, queue=20.0, talk=100.4, cid="c1"),
    rec(trunk=60.0, talk=45.0, cid="c2"),
    rec(result="rejected", cid="c3"),  # busy before answer: no trunk seconds, no contact fee
    rec("email", talk=300.0, cid="c4"),
    rec("chat", queue=12.5, talk=90.0, cid="c5"),
    rec(trunk=500.0, talk=400.0, tenant="bravo", cid="b1"),
    rec(trunk=999.0, at=START - timedelta(seconds=1), cid="before"),
    rec(trunk=999.0, at=END, cid="at-end"),  # the period is half-open
    rec(trunk=7.0, talk=1.0, at=START, cid="at-start"),
]
RATES = TenantRates(
    "acme",
    per_trunk_minute=Decimal("0.012"),
    per_agent_minute=Decimal("0.35"),
    per_contact={"voice": Decimal("0.05"), "email": Decimal("0.02"), "chat": Decimal("0.03")},
)


@pytest.mark.parametrize(
    ("seconds", "billed"),
    [(0.0, 0), (0.2, 1), (1.0, 1), (12.000000001, 12), (12.0004, 12), (12.0006, 13), (59.9, 60)],
)
def test_billed_seconds(seconds: float, billed: int) -> None:
    assert billed_seconds(seconds) == billed


def test_usage_report_groups_by_tenant_medium_result_within_the_period() -> None:
    report = usage_report(RECORDS, START, END)
    rows = [
        (r.tenant, r.medium, r.result, r.contacts, r.trunk_s, r.queue_s, r.talk_s)
        for r in report.rows
    ]
    assert rows == [
        ("acme", "chat", "answered", 1, 0, 13, 90),
        ("acme", "email", "answered", 1, 0, 0, 300),
        ("acme", "voice", "answered", 3, 126 + 60 + 7, 20, 101 + 45 + 1),
        ("acme", "voice", "rejected", 1, 0, 0, 0),
        ("bravo", "voice", "answered", 1, 500, 0, 400),
    ]
    only = usage_report(RECORDS, START, END, tenant="bravo")
    assert [r.tenant for r in only.rows] == ["bravo"]
    data = report.to_dict()
    json.dumps(data)
    assert data["totals"] == {
        "acme": {"contacts": 6, "trunk_s": 193, "queue_s": 33, "talk_s": 537},
        "bravo": {"contacts": 1, "trunk_s": 500, "queue_s": 0, "talk_s": 400},
    }


def test_bill_lines_and_total() -> None:
    b = bill(RECORDS, RATES, START, END)
    lines = {li.item: (li.quantity, li.unit_price, li.amount) for li in b.lines}
    assert lines == {
        # 193 s * 0.012 / 60 = 0.0386 -> 0.04
        "trunk-minutes": (Decimal("3.2167"), Decimal("0.012"), Decimal("0.04")),
        # 537 s * 0.35 / 60 = 3.1325 -> 3.13
        "agent-minutes": (Decimal("8.9500"), Decimal("0.35"), Decimal("3.13")),
        "contacts:chat": (Decimal(1), Decimal("0.03"), Decimal("0.03")),
        "contacts:email": (Decimal(1), Decimal("0.02"), Decimal("0.02")),
        "contacts:voice": (Decimal(3), Decimal("0.05"), Decimal("0.15")),  # rejected: free
    }
    assert b.total == Decimal("3.37")
    assert b.total == sum(li.amount for li in b.lines)
    assert b.to_dict()["total"] == "3.37"
    json.dumps(b.to_dict())


def test_rounding_is_half_up_at_the_line_total() -> None:
    rates = TenantRates("acme", per_trunk_minute=Decimal("0.01"))
    # 30 s at 0.01/min = 0.005: half up -> 0.01 (banker's rounding would give 0.00)
    assert bill([rec(trunk=30.0)], rates, START, END).total == Decimal("0.01")
    # three 20 s calls: 0.00333 each would round to 0.00; the line total of 60 s is 0.01
    three = [rec(trunk=20.0, cid=str(i)) for i in range(3)]
    assert bill(three, rates, START, END).total == Decimal("0.01")
    # 29 s: 0.004833 -> 0.00
    assert bill([rec(trunk=29.0)], rates, START, END).total == Decimal("0.00")


def test_unpriced_medium_is_listed_at_zero_and_uncharged_results_are_tunable() -> None:
    rates = TenantRates("acme", per_contact={"voice": Decimal("1")}, uncharged_results=frozenset())
    b = bill([rec("fax"), rec(result="rejected")], rates, START, END)
    lines = {li.item: li.amount for li in b.lines}
    assert lines["contacts:fax"] == Decimal("0.00")
    assert lines["contacts:voice"] == Decimal("1.00")


def test_bills_for_every_rated_tenant() -> None:
    all_bills = bills(iter(RECORDS), {"acme": RATES, "bravo": TenantRates("bravo")}, START, END)
    assert set(all_bills) == {"acme", "bravo"}
    assert all_bills["acme"].total == Decimal("3.37")
    assert all_bills["bravo"].total == Decimal("0.00")


def test_usage_csv() -> None:
    text = usage_csv(usage_report(RECORDS, START, END, tenant="bravo"))
    assert text == (
        "tenant,medium,result,contacts,trunk_s,queue_s,talk_s\r\n"
        "bravo,voice,answered,1,500,0,400\r\n"
    )
    rows = list(csv.DictReader(io.StringIO(usage_csv(usage_report(RECORDS, START, END)))))
    assert len(rows) == 5 and rows[0]["medium"] == "chat"


def test_bill_csv() -> None:
    b: Bill = bill(RECORDS, RATES, START, END)
    rows = list(csv.DictReader(io.StringIO(bill_csv(b))))
    assert [r["item"] for r in rows] == [
        "trunk-minutes",
        "agent-minutes",
        "contacts:chat",
        "contacts:email",
        "contacts:voice",
        "total",
    ]
    assert rows[-1]["amount"] == "3.37"
    assert rows[0] == {
        "tenant": "acme",
        "currency": "EUR",
        "period_start": "2024-05-01T00:00:00+00:00",
        "period_end": "2024-06-01T00:00:00+00:00",
        "item": "trunk-minutes",
        "description": "trunk time",
        "quantity": "3.2167",
        "unit": "minute",
        "unit_price": "0.012",
        "amount": "0.04",
    }


def test_validation() -> None:
    with pytest.raises(ValueError):
        UsageRecord("acme", "c", "voice", "answered", datetime(2024, 5, 2), 1.0)  # naive
    with pytest.raises(ValueError):
        rec(trunk=-1.0)
    with pytest.raises(ValueError):
        rec(talk=float("nan"))
    with pytest.raises(ValueError):
        TenantRates("acme", per_trunk_minute=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TenantRates("acme", per_contact={"voice": Decimal("-1")})
    with pytest.raises(ValueError):
        usage_report(RECORDS, END, START)
