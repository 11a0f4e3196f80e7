"""AdmissionService against a real database (SQLite and PostgreSQL): atomic admission under
concurrency, two nodes sharing counters, decisions recorded, history, usage and bills."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.admission.billing import TenantRates
from ccari.admission.models import AdmissionDecision, TrunkCall, TrunkPool
from ccari.admission.records import AdmissionRecords
from ccari.admission.service import AdmissionService, AdmissionSettings
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, Tenant

T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, at: dt.datetime = T0) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def tenants(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """acme: R=1.5, T=3 (A=2 -> permitted 5); globex: R=1, T=3 (A=1 -> permitted 4)."""
    async with sessions() as s:
        acme = Tenant(slug="acme", name="Acme", trunk_ratio=1.5, after_hours_trunks=3)
        globex = Tenant(slug="globex", name="Globex", trunk_ratio=1.0, after_hours_trunks=3,
                        overflow_policy="voicemail")
        s.add_all([acme, globex])
        await s.commit()
        return {"acme": acme.id, "globex": globex.id}


@pytest.fixture
def agents(tenants: dict[str, int]) -> dict[int, int]:
    return {tenants["acme"]: 2, tenants["globex"]: 1}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(sessions, agents, clock) -> AdmissionService:
    return AdmissionService(sessions, lambda t: agents.get(t, 0), node="node1", clock=clock)


@pytest.fixture
def records(sessions, clock) -> AdmissionRecords:
    return AdmissionRecords(sessions, clock=clock)


async def _live(sessions, tenant_id: int | None = None) -> int:
    async with sessions() as s:
        query = select(func.count()).select_from(TrunkCall)
        if tenant_id is not None:
            query = query.where(TrunkCall.tenant_id == tenant_id)
        return int(await s.scalar(query) or 0)


async def test_a_burst_admits_exactly_the_permitted_number(svc, sessions, tenants):
    acme, globex = tenants["acme"], tenants["globex"]
    results = await asyncio.gather(*(svc.admit_inbound(acme, f"a{i}") for i in range(12)))
    assert sum(r.admit for r in results) == 5
    refused = [r for r in results if not r.admit]
    assert len(refused) == 7
    assert {(r.action, r.reason) for r in refused} == {("busy", "tenant-limit-reached")}
    assert await _live(sessions, acme) == 5 == await svc.outstanding(acme)

    # Another tenant is unaffected by acme being full: its own limit (4) applies.
    results = await asyncio.gather(*(svc.admit_inbound(globex, f"g{i}") for i in range(6)))
    assert [r.admit for r in results].count(True) == 4
    assert {r.action for r in results if not r.admit} == {"voicemail"}  # globex's overflow
    assert await _live(sessions) == 9

    for i in range(12):  # refused calls were never counted: releasing them changes nothing
        await svc.release(f"a{i}")
    assert await svc.outstanding(acme) == 0
    await asyncio.gather(*(svc.release(f"a{i}") for i in range(12)))  # double release
    await svc.release("never-admitted")
    assert await svc.outstanding(acme) == 0 and await svc.outstanding(globex) == 4
    assert (await svc.admit_inbound(acme, "again")).admit


async def test_the_shared_pool_is_a_hard_cap(svc, tenants):
    await svc.set_pool({"total_trunks": 6})
    acme, globex = tenants["acme"], tenants["globex"]
    assert sum([(await svc.admit_inbound(acme, f"a{i}")).admit for i in range(5)]) == 5
    assert (await svc.admit_inbound(globex, "g0")).admit
    full = await svc.admit_inbound(globex, "g1")
    assert (full.admit, full.action, full.reason) == (False, "busy", "pool-full")
    out = await svc.admit_outbound(globex, "cb1")
    assert (out.admit, out.action, out.reason) == (False, "defer", "pool-full")
    await svc.release("a0")
    assert (await svc.admit_outbound(globex, "cb1")).admit
    assert (await svc.pool())["outstanding"] == 6


async def test_outbound_calls_count_and_are_deferred_at_the_limit(svc, tenants):
    acme = tenants["acme"]
    assert (await svc.admit_outbound(acme, "cb0")).admit
    for i in range(4):
        assert (await svc.admit_inbound(acme, f"a{i}")).admit
    inbound = await svc.admit_inbound(acme, "a4")
    assert (inbound.admit, inbound.reason) == (False, "tenant-limit-reached")
    outbound = await svc.admit_outbound(acme, "cb1")
    assert (outbound.admit, outbound.action) == (False, "defer")


async def test_asking_whether_a_callback_would_go_out_holds_and_records_nothing(
        svc, sessions, tenants, agents):
    acme, globex = tenants["acme"], tenants["globex"]
    for i in range(5):
        assert (await svc.admit_inbound(acme, f"a{i}")).admit
    decisions = await _decisions(sessions)
    assert not await svc.would_admit_outbound(acme)  # 5 of 5 in use
    assert await svc.would_admit_outbound(globex)
    assert await _decisions(sessions) == decisions and await _live(sessions) == 5
    agents[acme] = 3  # an agent became available: max(3 x 1.5, 3 + 3) = 6
    assert await svc.would_admit_outbound(acme)
    agents[acme] = 2
    await svc.release("a0")  # a trunk freed
    assert await svc.would_admit_outbound(acme)
    assert (await svc.admit_outbound(acme, "cb1")).admit  # and the real decision agrees
    await svc.set_pool({"total_trunks": 5})
    assert not await svc.would_admit_outbound(globex)  # the shared pool is full too


async def _decisions(sessions) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AdmissionDecision)) or 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # nodes share PostgreSQL
async def test_two_nodes_on_postgresql_share_the_counters(db_url, sessions, tenants, agents):
    assert db_url.startswith("postgresql")
    engine2 = make_engine(db_url)
    try:
        node1 = AdmissionService(sessions, lambda t: agents.get(t, 0), node="node1")
        node2 = AdmissionService(make_sessionmaker(engine2), lambda t: agents.get(t, 0),
                                 node="node2")
        acme = tenants["acme"]
        for round_ in range(3):
            calls = [(node1 if i % 2 else node2).admit_inbound(acme, f"r{round_}-{i}")
                     for i in range(12)]
            results = await asyncio.gather(*calls)
            assert sum(r.admit for r in results) == 5, results
            assert await node1.outstanding(acme) == 5
            # Either node may release a call the other admitted.
            await asyncio.gather(*(node2.release(f"r{round_}-{i}") for i in range(12)))
            assert await node1.outstanding(acme) == 0
    finally:
        await engine2.dispose()


async def test_every_decision_is_recorded_with_its_reason_and_inputs(records, svc, sessions, tenants):
    acme = tenants["acme"]
    for i in range(7):
        await svc.admit_inbound(acme, f"a{i}")
    async with sessions() as s:
        rows = (await s.scalars(select(AdmissionDecision).order_by(AdmissionDecision.id))).all()
    assert [r.admit for r in rows] == [True] * 5 + [False] * 2
    refused = rows[-1]
    assert (refused.call_id, refused.tenant_id, refused.direction, refused.node) == (
        "a6", acme, "inbound", "node1")
    assert (refused.action, refused.reason, refused.permitted, refused.outstanding) == (
        "busy", "tenant-limit-reached", 5, 5)
    assert refused.inputs["A"] == 2 and refused.inputs["R"] == 1.5 and refused.inputs["T"] == 3
    assert refused.inputs["pool_total"] == 30 and refused.inputs["over_limit_by"] == 1
    listed = await records.decisions(acme, limit=10, refused_only=True)
    assert [d.call_id for d in listed] == ["a6", "a5"]
    assert await records.decisions(tenants["globex"], limit=10) == []


async def test_admission_is_idempotent_per_call(svc, sessions, tenants):
    acme, globex = tenants["acme"], tenants["globex"]
    assert (await svc.admit_inbound(acme, "c1")).reason == "within-tenant-limit"
    again = await svc.admit_inbound(acme, "c1")
    assert (again.admit, again.reason) == (True, "already-admitted")
    other = await svc.admit_inbound(globex, "c1")
    assert (other.admit, other.reason) == (False, "call-already-admitted")
    assert await _live(sessions) == 1


async def test_an_unknown_tenant_gets_no_trunk(svc, sessions):
    result = await svc.admit_inbound(987654, "x1")
    assert (result.admit, result.action, result.reason) == (False, "busy", "unknown-tenant")
    assert await _live(sessions) == 0


async def test_rebuild_keeps_only_this_nodes_live_channels(svc, sessions, agents, tenants,
                                                             clock):
    other = AdmissionService(sessions, lambda t: agents.get(t, 0), node="node2")
    acme = tenants["acme"]
    for call in ("c1", "c2", "c3"):
        assert (await svc.admit_inbound(acme, call)).admit
    assert (await other.admit_inbound(acme, "n2")).admit
    assert await svc.rebuild(["c1", "not-ours"]) == 2
    async with sessions() as s:
        left = set((await s.scalars(select(TrunkCall.call_id))).all())
    assert left == {"c1", "n2"}  # node2's call is node2's business
    # A call admitted after the channel list was taken is not dropped.
    clock.advance(1)
    snapshot_at = clock()
    clock.advance(1)
    assert (await svc.admit_inbound(acme, "late")).admit
    assert await svc.rebuild([], as_of=snapshot_at) == 1
    assert await svc.outstanding(acme) == 2  # n2 and late


def _ended(tenant_id: int, cid: str, arrived: dt.datetime, seconds: float) -> Contact:
    return Contact(id=cid, tenant_id=tenant_id, medium="voice", state="completed",
                   arrived_at=arrived, ended_at=arrived + dt.timedelta(seconds=seconds))


async def test_call_durations_come_from_contacts_incrementally(records, sessions, agents, tenants, clock):
    """With one call of excess allowed, the 6th call is admitted only if a call is likely to
    end: that needs the tenant's duration history, read from the contacts (25 calls of 105 s,
    the calls in progress have lasted 100 s)."""
    acme = tenants["acme"]
    svc = AdmissionService(sessions, lambda t: agents.get(t, 0), node="node1", clock=clock,
                           settings=AdmissionSettings(refresh_s=5, overlap_s=30))
    await svc.set_pool({"likely_end_max_excess": 1, "likely_end_window_s": 10.0})
    async with sessions() as s:
        s.add_all(_ended(acme, f"h{i}", T0 - dt.timedelta(hours=1), 105) for i in range(25))
        await s.commit()
    for i in range(5):
        assert (await svc.admit_inbound(acme, f"a{i}")).admit
    clock.advance(100)
    sixth = await svc.admit_inbound(acme, "a5")
    assert (sixth.admit, sixth.reason) == (True, "tenant-limit-reached-but-end-likely")
    await svc.release("a5")
    # New ended calls are read on the next refresh, each once despite the overlap.
    async with sessions() as s:
        s.add_all(_ended(acme, f"n{i}", T0 + dt.timedelta(seconds=i), 90) for i in range(3))
        await s.commit()
    for _ in range(3):
        clock.advance(6)
        await svc.admit_inbound(acme, "probe")
        await svc.release("probe")
    rows = await records.decisions(acme, limit=1)
    assert rows[0].inputs["duration_samples"] == 28


async def test_arrivals_recorded_by_another_node_are_seen(sessions, agents, tenants, clock):
    acme, globex = tenants["acme"], tenants["globex"]
    node1 = AdmissionService(sessions, lambda t: agents.get(t, 0), node="node1", clock=clock)
    node2 = AdmissionService(sessions, lambda t: agents.get(t, 0), node="node2", clock=clock)
    await node1.admit_inbound(acme, "first")  # node1 reads the (empty) history now
    for i in range(4):
        await node2.admit_inbound(globex, f"g{i}")
    clock.advance(10)
    await node1.admit_inbound(acme, "second")
    arrivals = node1._history.arrivals(str(globex))  # noqa: SLF001 - the cache is the point
    assert len(arrivals) == 4
    clock.advance(900)  # out of the arrival window
    await node1.admit_inbound(acme, "third")
    assert len(node1._history.arrivals(str(globex))) == 0  # noqa: SLF001


async def test_usage_and_bill_from_contact_rows(records, svc, sessions, tenants):
    acme, globex = tenants["acme"], tenants["globex"]
    start, end = T0, T0 + dt.timedelta(days=1)

    def contact(cid, medium, state, at, seconds=None, wait=None, talk=None, tenant=acme):
        ended = None if seconds is None else at + dt.timedelta(seconds=seconds)
        return Contact(id=cid, tenant_id=tenant, medium=medium, state=state, arrived_at=at,
                       ended_at=ended, wait_s=wait, talk_s=talk)

    async with sessions() as s:
        s.add_all([
            contact("c1", "voice", "completed", T0 + dt.timedelta(minutes=5), 125.5, 20.2, 90.0),
            contact("c2", "voice", "abandoned", T0 + dt.timedelta(hours=1), 30, 25.0),
            contact("c3", "voice", "rejected", T0 + dt.timedelta(hours=2), 0.4),
            contact("c4", "chat", "completed", T0 + dt.timedelta(hours=3), 900, 10.0, 300.0),
            contact("old", "voice", "completed", T0 - dt.timedelta(seconds=1), 60, 1.0, 50.0),
            contact("late", "voice", "completed", end, 60, 1.0, 50.0),
            contact("g1", "voice", "completed", T0 + dt.timedelta(hours=1), 60, 1.0, 50.0,
                    tenant=globex),
        ])
        await s.commit()
    report = await records.usage(acme, start, end)
    assert [(r.tenant, r.medium, r.result, r.contacts, r.trunk_s, r.queue_s, r.talk_s)
            for r in report.rows] == [
        ("acme", "chat", "completed", 1, 0, 10, 300),
        ("acme", "voice", "abandoned", 1, 30, 25, 0),
        ("acme", "voice", "completed", 1, 126, 21, 90),
        ("acme", "voice", "rejected", 1, 1, 0, 0),
    ]
    with pytest.raises(Exception, match="rates"):
        await records.bill(acme, start, end)
    await records.set_rates(acme, TenantRates(
        tenant="", per_trunk_minute=Decimal("0.0120"), per_agent_minute=Decimal("0.5"),
        per_contact={"voice": Decimal("0.05"), "chat": Decimal("0.02")},
    ))
    bill = await records.bill(acme, start, end)
    lines = {li.item: (li.quantity, li.amount) for li in bill.lines}
    assert lines == {
        "trunk-minutes": (Decimal("2.6167"), Decimal("0.03")),  # 157 s * 0.012 / 60 = 0.0314
        "agent-minutes": (Decimal("6.5000"), Decimal("3.25")),  # 390 s * 0.5 / 60
        "contacts:chat": (Decimal(1), Decimal("0.02")),
        "contacts:voice": (Decimal(2), Decimal("0.10")),  # the rejected call is not charged
    }
    assert bill.total == Decimal("3.40") and bill.tenant == "acme" and bill.currency == "EUR"
    rates = await records.rates(acme)
    assert rates is not None and rates.per_trunk_minute == Decimal("0.0120")
    assert await records.rates(globex) is None


async def test_an_open_call_counts_its_seconds_so_far(records, svc, sessions, tenants, clock):
    acme = tenants["acme"]
    async with sessions() as s:
        s.add(Contact(id="open", tenant_id=acme, medium="voice", state="connected",
                      arrived_at=T0 - dt.timedelta(seconds=42)))
        await s.commit()
    report = await records.usage(acme, T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
    assert [(r.result, r.trunk_s) for r in report.rows] == [("connected", 42)]


async def test_policy_changes_apply_to_the_next_call(svc, tenants):
    acme = tenants["acme"]
    view = await svc.policy(acme)
    assert (view.ratio, view.after_hours_trunks, view.permitted, view.outstanding) == (1.5, 3, 5, 0)
    await svc.set_policy(acme, ratio=0.5, after_hours_trunks=0, overflow="callback")
    first = await svc.admit_inbound(acme, "a0")  # permitted max(floor(1.0), 2) = 2
    second = await svc.admit_inbound(acme, "a1")
    third = await svc.admit_inbound(acme, "a2")
    assert (first.admit, second.admit, third.admit, third.action) == (True, True, False, "callback")
    with pytest.raises(ValueError):
        await svc.set_policy(acme, ratio=-1)
    with pytest.raises(ValueError):
        await svc.set_policy(acme, overflow="hangup")
    with pytest.raises(ValueError):
        await svc.set_pool({"soon_threshold": 2.0})


@pytest.fixture
async def fresh_pool(sessions) -> AsyncIterator[None]:
    async with sessions() as s:
        await s.execute(delete(TrunkPool))
        await s.commit()
    yield


async def test_a_missing_pool_row_is_recreated(fresh_pool, svc, tenants):
    assert (await svc.admit_inbound(tenants["acme"], "a0")).admit
    assert (await svc.pool())["total_trunks"] == 30


async def test_the_trunk_and_what_holds_it_are_saved_together_or_not_at_all(svc, sessions, tenants):
    acme = tenants["acme"]

    def contact(s) -> str:  # noqa: ANN001 - the job's synchronous Session
        s.add(Contact(id="k1", tenant_id=acme, medium="voice", state="ivr"))
        return "k1"

    admission, saved = await svc.admit_inbound_with(acme, "w1", contact)
    assert admission.admit and saved == "k1"
    async with sessions() as s:
        assert await s.get(Contact, "k1") is not None

    def broken(s) -> str:  # noqa: ANN001
        raise RuntimeError("the contact could not be written")

    with pytest.raises(RuntimeError):
        await svc.admit_inbound_with(acme, "w2", broken)
    assert await _live(sessions, acme) == 1  # w2 holds no trunk: nothing half-saved
    # and the node's copy of the live set does not believe otherwise
    assert (await svc.admit_inbound_with(acme, "w2", lambda s: "again"))[1] == "again"
    assert await _live(sessions, acme) == 2

    for i in range(10):  # acme is permitted 5: the rest are refused and nothing else runs
        admission, ran = await svc.admit_inbound_with(acme, f"x{i}", lambda s: "ran")
        assert ran == ("ran" if admission.admit else None)
    assert await _live(sessions, acme) == 5


@pytest.mark.parametrize(("after_hours", "permitted", "hours"), [
    (None, 5, None),  # a number without business hours: T as configured, max(3, 2 + 3)
    (True, 5, "closed"),  # outside its hours: T applies
    (False, 3, "open"),  # inside them: max(floor(2 * 1.5), 2 + 0)
])
async def test_the_after_hours_trunks_count_only_outside_business_hours(
        svc, sessions, tenants, after_hours: bool | None, permitted: int, hours: str | None):
    acme = tenants["acme"]
    admitted = [(await svc.admit_inbound_with(acme, f"h{i}", lambda s: None,
                                              after_hours=after_hours))[0].admit
                for i in range(7)]
    assert admitted == [True] * permitted + [False] * (7 - permitted)
    async with sessions() as s:
        rows = list(await s.scalars(select(AdmissionDecision).where(
            AdmissionDecision.tenant_id == acme).order_by(AdmissionDecision.id)))
    assert {r.permitted for r in rows} == {permitted}
    assert {r.inputs.get("hours") for r in rows} == {hours}
    assert {r.inputs["T"] for r in rows} == {0 if after_hours is False else 3}
