"""Tables for the trunk rule, the shared pool and the likely-to-end rule."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.admission import (
    CallInProgress,
    Ledger,
    PoolFacts,
    PoolPolicy,
    Samples,
    TenantFacts,
    TenantPolicy,
    decide_inbound,
    decide_outbound,
    explain,
    permitted,
    probability_arrival_soon,
)

NOW = 100_000.0
# Bimodal history: half the calls last 30 s, half 300 s.
BIMODAL = Samples.of([30.0] * 50 + [300.0] * 50)


def calls(*elapsed: float, direction: str = "inbound") -> tuple[CallInProgress, ...]:
    assert direction in ("inbound", "outbound")
    return tuple(
        CallInProgress(NOW - e, "inbound" if direction == "inbound" else "outbound")
        for e in elapsed
    )


def arrivals(n: int, within_s: float = 900.0) -> Samples:
    """``n`` arrivals spread over the last ``within_s`` seconds."""
    return Samples.of(NOW - within_s * (i + 0.5) / n for i in range(n))


@pytest.mark.parametrize(
    ("a", "r", "t", "expected"),
    [
        (2, 1.5, 3, 5),  # the example: max(3, 5)
        (0, 1.5, 3, 3),  # after hours, nobody available: T
        (0, 2.0, 0, 0),
        (10, 1.5, 3, 15),  # large A: A x R wins over A + T = 13
        (40, 1.25, 5, 50),
        (3, 1.5, 0, 4),  # floor(4.5): never a fraction of a trunk
        (3, 0.7, 0, 3),  # A + T = 3 beats floor(2.1)
        (100, 1.13, 0, 113),  # 100 * 1.13 == 112.99999999999999 in binary float
        (1, 1.0, 0, 1),
        (-2, 1.5, 3, 3),  # a negative count is treated as nobody
    ],
)
def test_permitted_table(a: int, r: float, t: int, expected: int) -> None:
    assert permitted(a, r, t) == expected


@given(
    a=st.integers(0, 5000),
    r=st.floats(0, 20, allow_nan=False),
    t=st.integers(0, 500),
)
def test_permitted_is_the_larger_of_the_two(a: int, r: float, t: int) -> None:
    p = permitted(a, r, t)
    assert p >= a + t
    assert p <= max(a * r + 1e-6, a + t)
    assert p in (math.floor(a * r + 1e-9), a + t)
    assert permitted(a + 1, r, t) >= p


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        TenantPolicy("x", ratio=-1.0, after_hours_trunks=0)
    with pytest.raises(ValueError):
        TenantPolicy("x", ratio=float("nan"), after_hours_trunks=0)
    with pytest.raises(ValueError):
        TenantPolicy("x", ratio=1.0, after_hours_trunks=-1)
    with pytest.raises(ValueError):
        PoolPolicy(total_trunks=10, soon_threshold=1.5)


# --- the tenant limit -------------------------------------------------------------------

ACME = TenantPolicy("acme", ratio=1.5, after_hours_trunks=3)  # A=2 -> 5 permitted
BIG_POOL = PoolPolicy(total_trunks=1000)


def one_tenant(
    facts: TenantFacts, policy: TenantPolicy = ACME
) -> tuple[dict[str, TenantPolicy], PoolFacts]:
    return {policy.tenant: policy}, PoolFacts.of({policy.tenant: facts})


@pytest.mark.parametrize(
    ("in_progress", "admit", "reason"),
    [
        (0, True, "within-tenant-limit"),
        (4, True, "within-tenant-limit"),
        (5, False, "tenant-limit-reached"),
        (7, False, "tenant-limit-reached"),  # after agents logged off: still refused
    ],
)
def test_tenant_limit_table(in_progress: int, admit: bool, reason: str) -> None:
    policies, facts = one_tenant(TenantFacts(2, calls(*[60.0] * in_progress)))
    d = decide_inbound("acme", policies, BIG_POOL, facts, NOW)
    assert (d.admit, d.reason) == (admit, reason)
    assert d.action == ("admit" if admit else "busy")
    assert (d.permitted, d.outstanding) == (5, in_progress)
    assert d.inputs["A"] == 2 and d.inputs["R"] == 1.5 and d.inputs["T"] == 3
    assert f"{in_progress} of 5 permitted" in explain(d)


@pytest.mark.parametrize("overflow", ["busy", "announcement", "voicemail", "callback"])
def test_tenant_limit_uses_the_overflow_policy(overflow: str) -> None:
    policy = TenantPolicy("acme", 1.5, 3, overflow=overflow)  # type: ignore[arg-type]
    policies, facts = one_tenant(TenantFacts(2, calls(*[60.0] * 5)), policy)
    d = decide_inbound("acme", policies, BIG_POOL, facts, NOW)
    assert not d.admit and d.action == overflow and d.reason == "tenant-limit-reached"


def test_after_hours_only_t_calls() -> None:
    policies, facts = one_tenant(TenantFacts(0, calls(10.0, 10.0)))
    assert decide_inbound("acme", policies, BIG_POOL, facts, NOW).admit  # 2 + 1 <= 3
    policies, facts = one_tenant(TenantFacts(0, calls(10.0, 10.0, 10.0)))
    assert not decide_inbound("acme", policies, BIG_POOL, facts, NOW).admit


def test_outbound_counts_against_the_same_limit() -> None:
    mixed = calls(60.0, 60.0, 60.0) + calls(5.0, 5.0, direction="outbound")  # 5 of 5
    policies, facts = one_tenant(TenantFacts(2, mixed))
    inbound = decide_inbound("acme", policies, BIG_POOL, facts, NOW)
    assert (inbound.admit, inbound.reason, inbound.outstanding) == (
        False,
        "tenant-limit-reached",
        5,
    )
    outbound = decide_outbound("acme", policies, BIG_POOL, facts, NOW)
    assert (outbound.admit, outbound.action, outbound.reason) == (
        False,
        "defer",
        "tenant-limit-reached",
    )
    policies, facts = one_tenant(TenantFacts(2, mixed[1:]))
    assert decide_outbound("acme", policies, BIG_POOL, facts, NOW).action == "admit"


def test_unknown_tenant_is_refused() -> None:
    d = decide_inbound("nobody", {}, BIG_POOL, PoolFacts.of({}), NOW)
    assert (d.admit, d.action, d.reason) == (False, "busy", "unknown-tenant")


# --- the shared pool: full ----------------------------------------------------------------


def test_pool_full_blocks_even_within_the_tenant_limit() -> None:
    pool = PoolPolicy(total_trunks=10, likely_end_max_excess=3)
    policy = TenantPolicy("acme", 1.5, 3, overflow="voicemail")
    other = TenantPolicy("bravo", 10.0, 0)
    facts = PoolFacts.of(
        {
            "acme": TenantFacts(2, calls(299.0), duration_history=BIMODAL),  # ends surely
            "bravo": TenantFacts(1, calls(*[60.0] * 9)),
        }
    )
    policies = {"acme": policy, "bravo": other}
    d = decide_inbound("acme", policies, pool, facts, NOW)
    assert (d.admit, d.action, d.reason) == (False, "busy", "pool-full")
    assert d.inputs["pool_free"] == 0
    assert explain(d) == "refused: all 10 shared trunks are in use"
    out = decide_outbound("acme", policies, pool, facts, NOW)
    assert (out.admit, out.action, out.reason) == (False, "defer", "pool-full")
    # One trunk frees: admitted.
    facts = PoolFacts.of(
        {"acme": facts.tenants["acme"], "bravo": TenantFacts(1, calls(*[60.0] * 8))}
    )
    assert decide_inbound("acme", policies, pool, facts, NOW).admit


def test_pool_outstanding_may_include_unattributed_calls() -> None:
    policies, _ = one_tenant(TenantFacts(2))
    facts = PoolFacts({"acme": TenantFacts(2)}, outstanding=10)
    d = decide_inbound("acme", policies, PoolPolicy(total_trunks=10), facts, NOW)
    assert d.reason == "pool-full"


# --- the shared pool: nearly full -----------------------------------------------------

# The module docstring's worked example.
EX_POOL = PoolPolicy(
    total_trunks=10,
    near_full_margin=2,
    soon_window_s=60.0,
    soon_threshold=0.5,
    likely_end_window_s=10.0,
    likely_end_threshold=0.5,
)
EX_POLICIES = {
    "acme": TenantPolicy("acme", 1.5, 3, overflow="announcement"),  # A=2 -> 5, share 2
    "bravo": TenantPolicy("bravo", 1.0, 1),  # A=4 -> 5, share 4
    "charlie": TenantPolicy("charlie", 0.0, 4, overflow="voicemail"),  # A=0 -> 4, share 0
}


def example(
    acme_calls: int = 3,
    bravo_calls: int = 3,
    charlie_calls: int = 2,
    bravo_arrivals: int = 12,
    acme_elapsed: float = 100.0,
    bravo_arrival_span: float = 900.0,
    acme_arrivals: int = 0,
) -> PoolFacts:
    return PoolFacts.of(
        {
            "acme": TenantFacts(
                2,
                calls(*[acme_elapsed] * acme_calls),
                recent_arrivals=arrivals(acme_arrivals),
                duration_history=BIMODAL,
            ),
            "bravo": TenantFacts(
                4,
                calls(*[100.0] * bravo_calls),
                recent_arrivals=arrivals(bravo_arrivals, bravo_arrival_span),
                duration_history=BIMODAL,
            ),
            "charlie": TenantFacts(0, calls(*[100.0] * charlie_calls), duration_history=BIMODAL),
        }
    )


def test_worked_example_held_for_other_tenant() -> None:
    d = decide_inbound("acme", EX_POLICIES, EX_POOL, example(), NOW)
    assert (d.admit, d.action, d.reason) == (False, "announcement", "held-for-other-tenant")
    assert d.inputs["held_for"] == "bravo"
    assert (d.inputs["pool_free"], d.inputs["near_full"]) == (2, True)
    assert (d.inputs["guaranteed_share"], d.inputs["held_for_share"]) == (2, 4)
    assert d.inputs["p_arrival_soon"] == pytest.approx(1 - math.exp(-12 / 900 * 60), abs=1e-6)
    assert d.inputs["p_end"] == 0.0  # all acme calls are 100 s in: only 300 s calls remain
    assert "bravo" in explain(d)
    json.dumps(d.to_dict())


@pytest.mark.parametrize(
    ("case", "kwargs", "admit", "reason"),
    [
        ("other tenant likely to call", {}, False, "held-for-other-tenant"),
        ("other tenant unlikely to call", {"bravo_arrivals": 3}, True, "within-tenant-limit"),
        ("other's arrivals are old", {"bravo_arrival_span": 5000.0}, True, "within-tenant-limit"),
        ("not nearly full", {"charlie_calls": 1}, True, "within-tenant-limit"),
        (
            "acme below its share",
            {"acme_calls": 1, "charlie_calls": 4},
            True,
            "within-tenant-limit",
        ),
        (
            "bravo has no agent free",
            {"bravo_calls": 4, "charlie_calls": 1},
            True,
            "within-tenant-limit",
        ),
        (
            "an acme call likely ends",
            {"acme_elapsed": 295.0},
            True,
            "pool-near-full-but-end-likely",
        ),
        ("pool full after all", {"charlie_calls": 4}, False, "pool-full"),
    ],
)
def test_near_full_hold_back_table(
    case: str, kwargs: dict[str, float], admit: bool, reason: str
) -> None:
    facts = example(**kwargs)  # type: ignore[arg-type]
    d = decide_inbound("acme", EX_POLICIES, EX_POOL, facts, NOW)
    assert (d.admit, d.reason) == (admit, reason), case


def test_hold_back_is_symmetric() -> None:
    # bravo at its share (4 of 4 agents busy) asks for a 5th call, within its limit of 5,
    # while acme has an agent free and is likely to call: bravo is held back for acme.
    facts = example(acme_calls=1, bravo_calls=4, charlie_calls=3, acme_arrivals=60)
    d = decide_inbound("bravo", EX_POLICIES, EX_POOL, facts, NOW)
    assert (d.admit, d.action, d.reason) == (False, "busy", "held-for-other-tenant")
    assert d.inputs["held_for"] == "acme"


def test_after_hours_calls_yield_to_tenants_with_free_agents() -> None:
    d = decide_inbound("charlie", EX_POLICIES, EX_POOL, example(), NOW)
    assert (d.admit, d.action, d.reason) == (False, "voicemail", "held-for-other-tenant")
    assert d.inputs["guaranteed_share"] == 0
    # charlie, with no agents, is never a tenant others are held back for.
    facts = example(bravo_arrivals=0)
    facts = PoolFacts.of(
        {**facts.tenants, "charlie": TenantFacts(0, calls(100.0, 100.0), arrivals(600))}
    )
    assert decide_inbound("acme", EX_POLICIES, EX_POOL, facts, NOW).admit


def test_tenants_without_policy_are_not_held_for() -> None:
    facts = PoolFacts.of(
        {**example(bravo_arrivals=0).tenants, "ghost": TenantFacts(5, (), arrivals(600))}
    )
    assert decide_inbound("acme", EX_POLICIES, EX_POOL, facts, NOW).admit


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_extreme_soon_thresholds(threshold: float) -> None:
    pool = PoolPolicy(10, near_full_margin=2, soon_window_s=60.0, soon_threshold=threshold)
    d = decide_inbound("acme", EX_POLICIES, pool, example(), NOW)
    # 0: any tenant with an agent free is "likely"; 1: never (P < 1 for 12 arrivals)
    assert d.admit is (threshold == 1.0)


def test_soon_threshold_met_exactly_holds_back() -> None:
    exact = probability_arrival_soon(12 / 900, 60.0)  # bravo's 12 arrivals in 900 s
    pool = PoolPolicy(10, near_full_margin=2, soon_window_s=60.0, soon_threshold=exact)
    assert not decide_inbound("acme", EX_POLICIES, pool, example(), NOW).admit
    assert decide_inbound("acme", EX_POLICIES, pool, example(bravo_arrivals=11), NOW).admit


def test_outbound_is_deferred_when_held_back_even_if_an_end_is_likely() -> None:
    facts = example(acme_elapsed=295.0)
    d = decide_outbound("acme", EX_POLICIES, EX_POOL, facts, NOW)
    assert (d.admit, d.action, d.reason) == (False, "defer", "held-for-other-tenant")


# --- likely to end, at the tenant limit ------------------------------------------------

EXCESS_POOL = PoolPolicy(total_trunks=1000, likely_end_window_s=10.0, likely_end_max_excess=1)


@pytest.mark.parametrize(
    ("elapsed", "pool", "admit", "reason", "p_end"),
    [
        ((40.0,) * 5, EXCESS_POOL, False, "tenant-limit-reached", 0.0),
        ((295.0,) + (40.0,) * 4, EXCESS_POOL, True, "tenant-limit-reached-but-end-likely", 1.0),
        ((25.0,) + (40.0,) * 4, EXCESS_POOL, True, "tenant-limit-reached-but-end-likely", 0.5),
        (
            (25.0,) + (40.0,) * 4,
            PoolPolicy(1000, likely_end_max_excess=1, likely_end_threshold=0.6),
            False,
            "tenant-limit-reached",
            0.5,
        ),
        (
            (25.0, 25.0) + (40.0,) * 3,
            EXCESS_POOL,
            True,
            "tenant-limit-reached-but-end-likely",
            0.75,
        ),
        ((40.0,) * 6, EXCESS_POOL, False, "tenant-limit-reached", None),  # over by 2 > 1
        (
            (295.0, 295.0) + (40.0,) * 4,
            PoolPolicy(1000, likely_end_max_excess=2),
            True,
            "tenant-limit-reached-but-end-likely",
            1.0,
        ),
        (
            (295.0,) + (40.0,) * 5,
            PoolPolicy(1000, likely_end_max_excess=2),
            False,
            "tenant-limit-reached",
            0.0,  # needs 2 ends, only 1 is likely
        ),
        ((295.0,) * 5, PoolPolicy(1000), False, "tenant-limit-reached", None),  # default: exact
        (
            (295.0,) * 5,
            PoolPolicy(1000, likely_end_window_s=0, likely_end_max_excess=1),
            False,
            "tenant-limit-reached",
            None,
        ),
    ],
)
def test_likely_end_at_the_tenant_limit(
    elapsed: tuple[float, ...], pool: PoolPolicy, admit: bool, reason: str, p_end: float | None
) -> None:
    policies, facts = one_tenant(TenantFacts(2, calls(*elapsed), duration_history=BIMODAL))
    d = decide_inbound("acme", policies, pool, facts, NOW)
    assert (d.admit, d.reason) == (admit, reason)
    assert d.inputs.get("p_end") == (None if p_end is None else pytest.approx(p_end))


def test_likely_end_never_applies_to_outbound() -> None:
    policies, facts = one_tenant(TenantFacts(2, calls(*[295.0] * 5), duration_history=BIMODAL))
    d = decide_outbound("acme", policies, EXCESS_POOL, facts, NOW)
    assert (d.admit, d.action, d.reason) == (False, "defer", "tenant-limit-reached")


# --- exact under a burst ---------------------------------------------------------------


def burst(
    ledger: Ledger,
    tenants: list[str],
    policies: dict[str, TenantPolicy],
    pool: PoolPolicy,
    agents: dict[str, int],
) -> list[str]:
    """Simultaneous INVITEs handled one after the other, decide -> admit, no await between."""
    admitted = []
    for n, tenant in enumerate(tenants):
        facts = PoolFacts(
            {t: TenantFacts(agents[t], ledger.calls(t)) for t in policies}, ledger.total
        )
        d = decide_inbound(tenant, policies, pool, facts, NOW)
        if d.admit:
            assert ledger.admit(tenant, f"ch-{n}", started_at=NOW)
            admitted.append(tenant)
    return admitted


def test_a_burst_admits_exactly_the_permitted_number() -> None:
    ledger = Ledger()
    admitted = burst(ledger, ["acme"] * 20, {"acme": ACME}, BIG_POOL, {"acme": 2})
    assert len(admitted) == 5 and ledger.count("acme") == 5
    ledger.release("ch-0")
    ledger.release("ch-0")  # a duplicate hang-up event
    ledger.release("ch-1")
    assert ledger.count("acme") == 3
    assert len(burst(ledger, ["acme"] * 20, {"acme": ACME}, BIG_POOL, {"acme": 2})) == 2


def test_a_burst_across_tenants_never_exceeds_the_pool() -> None:
    policies = {t: TenantPolicy(t, 1.0, 5) for t in ("a", "b", "c")}  # A=0 -> 5 each
    ledger = Ledger()
    admitted = burst(
        ledger,
        ["a", "b", "c"] * 10,
        policies,
        PoolPolicy(total_trunks=12),
        dict.fromkeys(policies, 0),
    )
    assert len(admitted) == 12 == ledger.total
    assert all(ledger.count(t) <= 5 for t in policies)
