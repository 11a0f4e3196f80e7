"""Trunk admission decisions per second under contention, against a naive baseline.

    python -m bench.admission [--tenants 200] [--decisions 30000] [--seed 7]

200 tenants with seeded random entitlements, call-duration histories (log-normal, 300 to
2,000 calls each) and arrival rates share a pool sized at 70 % of the sum of their permitted
counts. After a warm-up that fills the pool, hang-ups are paced to keep it inside its near-full
margin, so the shared-pool and likely-to-end rules are exercised on most decisions.

Measured: the latency of each ``decide_inbound`` / ``decide_outbound`` call (the pure core,
facts already assembled), p50/p99, and decisions per second = decisions / time spent deciding.
The baseline, in the same run on the same facts, is the same rule written the naive way: it
rescans the full, unsorted duration history and the whole arrival list on every decision.
Both must reach the same decision; disagreements are counted and printed.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from collections.abc import Mapping

from ccari.admission import (
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

ARRIVAL_WINDOW_S = 900.0


class Tenant:
    def __init__(self, rng: random.Random, name: str) -> None:
        self.name = name
        self.policy = TenantPolicy(
            name,
            rng.choice([1.0, 1.25, 1.5, 2.0]),
            rng.randint(0, 5),
            rng.choice(["busy", "announcement", "voicemail", "callback"]),
        )
        self.agents = rng.randint(0, 20)
        perm = permitted(self.agents, self.policy.ratio, self.policy.after_hours_trunks)
        self.rate = max(perm, 1) * rng.uniform(0.2, 2.0) / 300.0  # arrivals per second
        mu = math.log(rng.uniform(60.0, 300.0))
        self.durations = [rng.lognormvariate(mu, 0.8) for _ in range(rng.randint(300, 2000))]
        self.history = Samples.of(self.durations)
        self.arrivals: list[float] = []  # every arrival: the naive baseline rescans them all
        self.recent: list[float] = []  # the last ARRIVAL_WINDOW_S only

    def facts(self, ledger: Ledger, now: float) -> TenantFacts:
        cut = now - ARRIVAL_WINDOW_S
        while self.recent and self.recent[0] <= cut:
            self.recent.pop(0)
        return TenantFacts(
            self.agents, ledger.calls(self.name), Samples(tuple(self.recent)), self.history
        )


# --- the baseline: the same rule, recomputed from raw lists on every decision --------------


def _naive_p_end(elapsed: float, durations: list[float], w: float, pool: PoolPolicy) -> float:
    e = max(elapsed, 0.0)
    survivors = [d for d in durations if d > e]
    if len(survivors) >= pool.min_history and survivors:
        return sum(1 for d in survivors if d <= e + w) / len(survivors)
    ok = len(durations) >= pool.min_history and durations
    mean = math.fsum(durations) / len(durations) if ok else pool.prior_mean_duration_s
    return -math.expm1(-w / mean)


def _naive_at_least(ps: list[float], k: int) -> float:
    if k > len(ps):
        return 0.0
    if k == 1:
        none_end = 1.0
        for p in ps:
            none_end *= 1.0 - p
        return 1.0 - none_end
    dist = [1.0] + [0.0] * k
    for p in ps:
        q = 1.0 - p
        dist[k] += dist[k - 1] * p
        for j in range(k - 1, 0, -1):
            dist[j] = dist[j] * q + dist[j - 1] * p
        dist[0] *= q
    return min(1.0, dist[k])


def naive_decide(
    name: str,
    outbound: bool,
    tenants: Mapping[str, Tenant],
    ledger: Ledger,
    pool: PoolPolicy,
    now: float,
) -> tuple[bool, str]:
    me = tenants[name]
    allowed = permitted(me.agents, me.policy.ratio, me.policy.after_hours_trunks)
    outstanding = len(ledger.calls(name))
    free = pool.total_trunks - ledger.total
    if free <= 0:
        return False, "pool-full"
    over = outstanding + 1 - allowed
    use_ends = not outbound and pool.likely_end_window_s > 0
    if over > 0 and (not use_ends or over > pool.likely_end_max_excess):
        return False, "tenant-limit-reached"
    held = False
    if free <= pool.near_full_margin and outstanding >= me.agents:
        for other in tenants.values():
            if other.name == name or len(ledger.calls(other.name)) >= other.agents:
                continue
            n = sum(1 for a in other.arrivals if now - ARRIVAL_WINDOW_S < a <= now)
            p_soon = -math.expm1(-(n / ARRIVAL_WINDOW_S) * pool.soon_window_s) if n else 0.0
            if p_soon >= pool.soon_threshold:
                held = True
                break
    needed = max(over, 0) + (1 if held else 0)
    if needed == 0:
        return True, "within-tenant-limit"
    if use_ends:
        w = pool.likely_end_window_s
        ps = [_naive_p_end(now - c.started_at, me.durations, w, pool) for c in ledger.calls(name)]
        if _naive_at_least(ps, needed) >= pool.likely_end_threshold:
            return True, (
                "tenant-limit-reached-but-end-likely"
                if over > 0
                else "pool-near-full-but-end-likely"
            )
    return False, ("tenant-limit-reached" if over > 0 else "held-for-other-tenant")


# --- the run -------------------------------------------------------------------------------


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def run(n_tenants: int, n_decisions: int, seed: int) -> None:
    rng = random.Random(seed)
    tenants = {t.name: t for t in (Tenant(rng, f"t{i:03d}") for i in range(n_tenants))}
    policies = {name: t.policy for name, t in tenants.items()}
    sum_perm = sum(
        permitted(t.agents, t.policy.ratio, t.policy.after_hours_trunks) for t in tenants.values()
    )
    pool = PoolPolicy(
        total_trunks=int(sum_perm * 0.7),
        near_full_margin=max(2, sum_perm // 100),
        likely_end_window_s=10.0,
        likely_end_max_excess=1,
        arrival_window_s=ARRIVAL_WINDOW_S,
        soon_window_s=30.0,
        soon_threshold=0.5,
    )
    ledger = Ledger()
    now = 1_000_000.0
    names = list(tenants)
    weights = [t.rate for t in tenants.values()]
    for t in tenants.values():  # an arrival history for the last window
        at = now - ARRIVAL_WINDOW_S
        while (at := at + rng.expovariate(t.rate)) < now:
            t.arrivals.append(at)
            t.recent.append(at)
    facts = {name: t.facts(ledger, now) for name, t in tenants.items()}
    fast_ns: list[int] = []
    base_ns: list[int] = []
    reasons: Counter[str] = Counter()
    mismatches = 0
    near_full = 0
    next_id = 0
    live: list[str] = []
    clock = time.perf_counter_ns
    warm = True  # fill the pool to nearly full before measuring
    while len(fast_ns) < n_decisions:
        now += rng.expovariate(sum(weights) * 2)
        warm = warm and ledger.total < pool.total_trunks - pool.near_full_margin
        # Hang-ups keep the pool hovering inside its near-full margin.
        hang_up_p = 0.6 if ledger.total >= pool.total_trunks - pool.near_full_margin // 2 else 0.15
        if live and rng.random() < hang_up_p:
            call_id = live.pop(rng.randrange(len(live)))
            tenant = ledger.release(call_id)
            assert tenant is not None
            facts[tenant] = tenants[tenant].facts(ledger, now)
            continue
        name = rng.choices(names, weights)[0]
        me = tenants[name]
        outbound = rng.random() < 0.15
        if not outbound:
            me.arrivals.append(now)
            me.recent.append(now)
        facts[name] = me.facts(ledger, now)
        pool_facts = PoolFacts(facts, ledger.total)
        decide = decide_outbound if outbound else decide_inbound
        t0 = clock()
        decision = decide(name, policies, pool, pool_facts, now)
        t1 = clock()
        if not warm:
            naive = naive_decide(name, outbound, tenants, ledger, pool, now)
            t2 = clock()
            fast_ns.append(t1 - t0)
            base_ns.append(t2 - t1)
            reasons[decision.reason] += 1
            mismatches += naive != (decision.admit, decision.reason)
            near_full += pool_facts.outstanding >= pool.total_trunks - pool.near_full_margin
        if decision.admit:
            call_id = f"ch-{next_id}"
            next_id += 1
            ledger.admit(name, call_id, started_at=now - rng.uniform(0, 400))
            live.append(call_id)
            facts[name] = me.facts(ledger, now)
        assert ledger.total <= pool.total_trunks
    print(f"decisions taken with the pool nearly full: {near_full}/{len(fast_ns)}")
    report(n_tenants, pool, sum_perm, reasons, mismatches, fast_ns, base_ns)


def report(
    n_tenants: int,
    pool: PoolPolicy,
    sum_perm: int,
    reasons: Counter[str],
    mismatches: int,
    fast_ns: list[int],
    base_ns: list[int],
) -> None:
    def stats(ns: list[int]) -> tuple[float, float, float]:
        s = sorted(ns)
        return len(s) / (sum(s) / 1e9), percentile(s, 0.50), percentile(s, 0.99)

    fast, base = stats(fast_ns), stats(base_ns)
    print(
        f"tenants={n_tenants} pool_trunks={pool.total_trunks} sum_permitted={sum_perm} "
        f"near_full_margin={pool.near_full_margin} decisions={len(fast_ns)}"
    )
    print("reasons: " + " ".join(f"{r}={n}" for r, n in reasons.most_common()))

    def show(label: str, s: tuple[float, float, float]) -> str:
        return f"{label}: decisions_per_s={s[0]:.0f} p50_us={s[1]:.1f} p99_us={s[2]:.1f}"

    print(show("core (sorted histories, bisect)", fast))
    print(show("baseline (naive rescans of the full lists)", base))
    print(f"decisions agreeing with the baseline: {len(fast_ns) - mismatches}/{len(fast_ns)}")
    print(
        f"decisions_per_s={fast[0]:.0f} p99_us={fast[2]:.1f} p50_us={fast[1]:.1f} "
        f"baseline_decisions_per_s={base[0]:.0f} baseline_p99_us={base[2]:.1f} "
        f"ratio={fast[0] / base[0]:.1f} mismatches={mismatches}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.tenants, args.decisions, args.seed)


if __name__ == "__main__":
    main()
