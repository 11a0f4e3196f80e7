"""The ledger of admitted calls: idempotent, never negative, rebuilt from live channels."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from ccari.admission import (
    CallAlreadyAdmitted,
    CallInProgress,
    Ledger,
    PoolFacts,
    PoolPolicy,
    Samples,
    TenantFacts,
    TenantPolicy,
    decide_inbound,
    decide_outbound,
    permitted,
)


def test_admit_is_idempotent() -> None:
    ledger = Ledger()
    assert ledger.admit("acme", "ch-1", started_at=1.0)
    assert not ledger.admit("acme", "ch-1", started_at=2.0)
    assert ledger.count("acme") == 1 == ledger.total
    assert ledger.calls("acme") == (CallInProgress(1.0, "inbound"),)
    assert "ch-1" in ledger and ledger.tenant_of("ch-1") == "acme"


def test_release_twice_or_unknown_is_a_no_op() -> None:
    ledger = Ledger()
    ledger.admit("acme", "ch-1", started_at=1.0)
    ledger.admit("acme", "ch-2", started_at=1.0, direction="outbound")
    assert ledger.release("ch-1") == "acme"
    assert ledger.release("ch-1") is None
    assert ledger.release("never-seen") is None
    assert ledger.count("acme") == 1 and ledger.total == 1
    assert ledger.release("ch-2") == "acme"
    assert ledger.release("ch-2") is None
    assert ledger.count("acme") == 0 == ledger.total
    assert ledger.counts() == {} and ledger.calls("acme") == ()


def test_a_call_belongs_to_one_tenant() -> None:
    ledger = Ledger()
    ledger.admit("acme", "ch-1", started_at=1.0)
    with pytest.raises(CallAlreadyAdmitted) as info:
        ledger.admit("bravo", "ch-1", started_at=1.0)
    assert info.value.error_id == "call-already-admitted"
    assert ledger.counts() == {"acme": 1}


def test_calls_cache_follows_changes() -> None:
    ledger = Ledger()
    ledger.admit("acme", "a", started_at=1.0)
    assert len(ledger.calls("acme")) == 1
    ledger.admit("acme", "b", started_at=2.0)
    assert len(ledger.calls("acme")) == 2
    ledger.release("a")
    assert ledger.calls("acme") == (CallInProgress(2.0),)


def test_rebuild_replaces_everything_with_the_live_calls() -> None:
    ledger = Ledger()
    ledger.admit("acme", "gone", started_at=1.0)
    ledger.admit("acme", "kept", started_at=1.0)
    ledger.rebuild(
        {
            "acme": {"kept": CallInProgress(1.0)},
            "bravo": {"b1": CallInProgress(5.0, "outbound")},
            "idle": {},
        }
    )
    assert ledger.counts() == {"acme": 1, "bravo": 1}
    assert ledger.total == 2
    assert ledger.call_ids("acme") == frozenset({"kept"})
    assert ledger.release("gone") is None  # the hang-up of a call that died with the PBX
    with pytest.raises(CallAlreadyAdmitted):
        ledger.rebuild({"a": {"x": CallInProgress(1.0)}, "b": {"x": CallInProgress(1.0)}})


# --- any interleaving keeps counts == live set and within the permitted numbers ------------

POLICIES = {
    "acme": TenantPolicy("acme", 1.5, 3),  # A=2 -> 5
    "bravo": TenantPolicy("bravo", 1.0, 1),  # A=3 -> 4
    "charlie": TenantPolicy("charlie", 0.0, 3),  # A=0 -> 3
}
AGENTS = {"acme": 2, "bravo": 3, "charlie": 0}
HISTORY = Samples.of([20.0] * 30 + [200.0] * 30)


class AdmissionMachine(RuleBasedStateMachine):
    """Calls arrive (decide -> admit), hang up (sometimes twice), and the node restarts."""

    pool = PoolPolicy(total_trunks=9, near_full_margin=2, soon_window_s=60.0)

    live = Bundle("live")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.model: dict[str, dict[str, CallInProgress]] = {t: {} for t in POLICIES}
        self.arrivals: dict[str, list[float]] = {t: [] for t in POLICIES}
        self.now = 1_000.0
        self.next_id = 0

    def facts(self) -> PoolFacts:
        return PoolFacts(
            {
                t: TenantFacts(
                    AGENTS[t],
                    self.ledger.calls(t),
                    Samples(tuple(self.arrivals[t])),
                    HISTORY,
                )
                for t in POLICIES
            },
            self.ledger.total,
        )

    def limit(self, tenant: str) -> int:
        p = POLICIES[tenant]
        return permitted(AGENTS[tenant], p.ratio, p.after_hours_trunks)

    @rule(
        target=live,
        tenant=st.sampled_from(sorted(POLICIES)),
        outbound=st.booleans(),
        step=st.floats(0, 30),
    )
    def call(self, tenant: str, outbound: bool, step: float) -> object:
        self.now += step
        decide = decide_outbound if outbound else decide_inbound
        if not outbound:
            self.arrivals[tenant].append(self.now)
        decision = decide(tenant, POLICIES, self.pool, self.facts(), self.now)
        if not decision.admit:
            assert decision.action in (("defer",) if outbound else ("busy",))
            return multiple()
        assert self.ledger.count(tenant) < self.limit(tenant) + self.pool.likely_end_max_excess
        assert self.ledger.total < self.pool.total_trunks
        call_id = f"ch-{self.next_id}"
        self.next_id += 1
        call = CallInProgress(self.now, "outbound" if outbound else "inbound")
        assert self.ledger.admit(
            tenant, call_id, started_at=call.started_at, direction=call.direction
        )
        self.model[tenant][call_id] = call
        return call_id

    @rule(call_id=consumes(live), twice=st.booleans())
    def hang_up(self, call_id: str, twice: bool) -> None:
        tenant = self.ledger.release(call_id)
        if twice:
            assert self.ledger.release(call_id) is None
        if tenant is not None:
            del self.model[tenant][call_id]
        else:  # already gone with a restart
            assert all(call_id not in calls for calls in self.model.values())

    @rule(call_id=st.text(min_size=1, max_size=5))
    def stray_hang_up(self, call_id: str) -> None:
        assert self.ledger.release(call_id) is None

    @precondition(lambda self: self.ledger.total > 0)
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        """Some channels died with the PBX; the rest are found by GET /channels."""
        survivors = {
            t: {
                cid: call
                for cid, call in calls.items()
                if data.draw(st.booleans(), label=f"{cid} survives")
            }
            for t, calls in self.model.items()
        }
        self.ledger.rebuild(survivors)
        self.model = survivors

    @invariant()
    def counts_match_the_live_set(self) -> None:
        for tenant, calls in self.model.items():
            assert self.ledger.count(tenant) == len(calls) >= 0
            assert self.ledger.call_ids(tenant) == frozenset(calls)
            assert self.ledger.count(tenant) <= self.limit(tenant) + self.pool.likely_end_max_excess
        assert self.ledger.total == sum(len(c) for c in self.model.values())
        assert self.ledger.total <= self.pool.total_trunks


class AdmissionWithExcessMachine(AdmissionMachine):
    """The same, with one likely-to-end call allowed over each tenant's limit."""

    pool = PoolPolicy(
        total_trunks=9,
        near_full_margin=2,
        soon_window_s=60.0,
        likely_end_max_excess=1,
        likely_end_window_s=30.0,
        min_history=10,
    )


TestAdmission = AdmissionMachine.TestCase
TestAdmission.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAdmissionWithExcess = AdmissionWithExcessMachine.TestCase
TestAdmissionWithExcess.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
