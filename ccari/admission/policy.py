"""Trunk admission: may this tenant take one more call on the shared trunk pool?

Pure core in the style of routing: facts in, a :class:`Decision` out, with a stable reason id
and the inputs an admin needs to see why. No I/O, no clock (``now`` is passed in).

The tenant rule
    ``permitted = max(floor(A * R), A + T)`` with A the tenant's agents available now (logged
    in and ready, whether idle or on a call: counting only idle agents would shrink the limit
    as calls are answered), R its trunk/agent ratio and T its after-hours trunks (the service
    passes T = 0 for a call to a number inside its business hours). ``A * R`` is
    rounded *down*: a fraction of a trunk is never granted, so the rule never over-admits
    (A=3, R=1.5 -> 4, not 5). A ``1e-9`` tolerance absorbs binary float error (100 * 1.13
    counts as 113, not 112).
    A new call is within the limit when ``outstanding + 1 <= permitted``; outbound calls
    (callbacks, click-to-call) are counted in ``outstanding`` like inbound ones.

The shared pool, in the order the rules apply
    1. ``pool-full``: ``free = total_trunks - pool outstanding <= 0`` -> reject. This is a hard
       cap: no likely-end allowance, and the action is always ``busy`` (inbound) or ``defer``
       (outbound), because an announcement or voicemail would itself need a trunk.
    2. ``tenant-limit-reached``: ``over = outstanding + 1 - permitted > 0``. An inbound call is
       still admitted (``tenant-limit-reached-but-end-likely``) when ``over <=
       likely_end_max_excess`` (default 0: tenant limits are exact) and at least ``over``
       calls of the tenant are likely to end (below).
    3. Nearly full: ``free <= near_full_margin``: the last trunks are kept for calls that
       serve best, those an agent can answer now. A tenant's *guaranteed share* is A, one call
       per available agent; the rest of its entitlement (from R and T: calls that would wait
       in queue or get after-hours treatment) is *extra*. A tenant whose outstanding is
       already ``>= A`` is *held back* if another tenant is below its own share (it has an
       agent free) and likely to receive a call soon: ``1 - exp(-rate * soon_window_s) >=
       soon_threshold``, ``rate`` being its arrivals over the last ``arrival_window_s``. The
       first such tenant (in the facts' order) is recorded. The share depends on the tenant's
       own facts only, so a decision is O(1) in the number of tenants except for the scan of
       the others' arrivals, most of which is skipped on a length check.
    4. Likely to end, before rejecting for 2 or 3: ``needed = max(over, 0) + (1 if held)`` calls
       must end within ``likely_end_window_s``; the call is admitted when
       ``P(at least needed of the tenant's calls end) >= likely_end_threshold`` (see
       :mod:`ccari.admission.estimates`). Inbound only: an outbound call is simply deferred and
       retried, when the end has really happened.
    Rejected inbound calls get the tenant's overflow action (busy, announcement, voicemail,
    callback offer); rejected outbound calls get ``defer``.

Worked example
    Pool of 10 trunks, margin 2, soon window 60 s, soon threshold 0.5, likely-end window 10 s,
    threshold 0.5. Tenant acme: A=2, R=1.5, T=3 -> permitted max(3, 5) = 5, share 2. Tenant
    bravo: A=4, R=1.0, T=1 -> permitted 5, share 4. Tenant charlie (after hours): A=0, T=4 ->
    permitted 4, share 0. acme holds 3 calls, bravo 3, charlie 2: free = 2 <= margin, nearly
    full. A new call for acme is within its limit (3 + 1 <= 5) but extra (3 >= 2). bravo has
    an agent free (3 < 4) and had 12 arrivals in the last 900 s: rate 0.0133/s, P(arrival
    within 60 s) = 1 - exp(-0.8) = 0.55 >= 0.5. So acme's call is held back unless one of
    acme's 3 calls is likely to end within 10 s; if P = 0.3 < 0.5 the decision is
    ``held-for-other-tenant`` with acme's overflow action, and the inputs show bravo and 0.55.
    Had bravo had 3 arrivals (P = 0.18), acme's call would be admitted,
    ``within-tenant-limit``. charlie's next call is held back the same way; a call for a
    tenant below its share (fewer calls than available agents) never is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ccari.admission.estimates import (
    DEFAULT_MIN_HISTORY,
    DEFAULT_PRIOR_MEAN_S,
    EMPTY,
    CallInProgress,
    Direction,
    Samples,
    arrival_rate,
    probability_arrival_soon,
    probability_at_least_k_end,
)

Overflow = Literal["busy", "announcement", "voicemail", "callback"]
Action = Literal["admit", "busy", "announcement", "voicemail", "callback", "defer"]
Reason = Literal[
    "within-tenant-limit",
    "tenant-limit-reached",
    "tenant-limit-reached-but-end-likely",
    "pool-full",
    "held-for-other-tenant",
    "pool-near-full-but-end-likely",
    "unknown-tenant",
]
InputValue = int | float | str | bool | None

_FLOOR_TOLERANCE = 1e-9


def permitted(available_agents: int, ratio: float, after_hours_trunks: int) -> int:
    """``max(floor(A * R), A + T)``: the simultaneous calls a tenant may hold."""
    a = max(available_agents, 0)
    return max(math.floor(a * ratio + _FLOOR_TOLERANCE), a + after_hours_trunks)


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """A tenant's entitlement: trunk/agent ratio R, after-hours trunks T, overflow action."""

    tenant: str
    ratio: float
    after_hours_trunks: int
    overflow: Overflow = "busy"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ratio) and self.ratio >= 0):
            raise ValueError(f"ratio must be a finite number >= 0, got {self.ratio!r}")
        if self.after_hours_trunks < 0:
            raise ValueError("after_hours_trunks must be >= 0")


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """The shared pool and the tunables of the shared-pool and likely-to-end rules."""

    total_trunks: int
    near_full_margin: int = 0  # nearly full when free trunks (before this call) <= margin
    likely_end_window_s: float = 10.0  # 0 disables the likely-to-end rule
    likely_end_threshold: float = 0.5
    likely_end_max_excess: int = 0  # calls an inbound tenant may go over its limit; 0 = exact
    arrival_window_s: float = 900.0
    soon_window_s: float = 30.0
    soon_threshold: float = 0.5
    min_history: int = DEFAULT_MIN_HISTORY
    prior_mean_duration_s: float = DEFAULT_PRIOR_MEAN_S

    def __post_init__(self) -> None:
        if self.total_trunks < 0 or self.near_full_margin < 0 or self.likely_end_max_excess < 0:
            raise ValueError("trunk counts must be >= 0")
        if not (self.arrival_window_s > 0 and self.prior_mean_duration_s > 0):
            raise ValueError("arrival_window_s and prior_mean_duration_s must be > 0")
        if self.likely_end_window_s < 0 or self.soon_window_s < 0:
            raise ValueError("windows must be >= 0")
        for p in (self.likely_end_threshold, self.soon_threshold):
            if not 0.0 <= p <= 1.0:
                raise ValueError("thresholds are probabilities in [0, 1]")


@dataclass(frozen=True, slots=True)
class TenantFacts:
    """What is true of a tenant now. Histories are :class:`Samples` (sorted once)."""

    available_agents: int
    calls_in_progress: tuple[CallInProgress, ...] = ()
    recent_arrivals: Samples = EMPTY
    duration_history: Samples = EMPTY

    @property
    def outstanding(self) -> int:
        return len(self.calls_in_progress)


NO_FACTS = TenantFacts(available_agents=0)


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """Facts for every tenant, and the calls outstanding on the pool (all tenants)."""

    tenants: Mapping[str, TenantFacts]
    outstanding: int

    @classmethod
    def of(cls, tenants: Mapping[str, TenantFacts]) -> PoolFacts:
        """Pool facts whose outstanding count is the sum of the tenants' calls."""
        return cls(tenants, sum(f.outstanding for f in tenants.values()))


@dataclass(frozen=True, slots=True)
class Decision:
    """An admission decision, with the inputs it was made from (recorded for admins)."""

    tenant: str
    direction: Direction
    admit: bool
    action: Action
    reason: Reason
    permitted: int
    outstanding: int
    inputs: dict[str, InputValue] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, InputValue | dict[str, InputValue]]:
        return {
            "tenant": self.tenant,
            "direction": self.direction,
            "admit": self.admit,
            "action": self.action,
            "reason": self.reason,
            "permitted": self.permitted,
            "outstanding": self.outstanding,
            "inputs": dict(self.inputs),
        }


def decide_inbound(
    tenant: str,
    policies: Mapping[str, TenantPolicy],
    pool: PoolPolicy,
    facts: PoolFacts,
    now: float,
) -> Decision:
    """Admit a new inbound call for ``tenant`` to call treatment, or say how to turn it away."""
    return _decide(tenant, "inbound", policies, pool, facts, now)


def decide_outbound(
    tenant: str,
    policies: Mapping[str, TenantPolicy],
    pool: PoolPolicy,
    facts: PoolFacts,
    now: float,
) -> Decision:
    """Admit an outbound call (callback, click-to-call) or ``defer`` it; same limit as inbound."""
    return _decide(tenant, "outbound", policies, pool, facts, now)


def _decide(
    tenant: str,
    direction: Direction,
    policies: Mapping[str, TenantPolicy],
    pool: PoolPolicy,
    facts: PoolFacts,
    now: float,
) -> Decision:
    tf = facts.tenants.get(tenant, NO_FACTS)
    outstanding = tf.outstanding
    free = pool.total_trunks - facts.outstanding
    policy = policies.get(tenant)
    inputs: dict[str, InputValue] = {
        "A": tf.available_agents,
        "tenant_outstanding": outstanding,
        "pool_total": pool.total_trunks,
        "pool_outstanding": facts.outstanding,
        "pool_free": free,
    }
    if policy is None:
        return Decision(tenant, direction, False, "busy", "unknown-tenant", 0, outstanding, inputs)
    allowed = permitted(tf.available_agents, policy.ratio, policy.after_hours_trunks)
    inputs["R"] = policy.ratio
    inputs["T"] = policy.after_hours_trunks
    inputs["permitted"] = allowed
    refuse: Action = policy.overflow if direction == "inbound" else "defer"

    def decision(admit: bool, action: Action, reason: Reason) -> Decision:
        return Decision(tenant, direction, admit, action, reason, allowed, outstanding, inputs)

    if free <= 0:
        return decision(False, "busy" if direction == "inbound" else "defer", "pool-full")

    over = outstanding + 1 - allowed
    may_use_ends = direction == "inbound" and pool.likely_end_window_s > 0
    if over > 0:
        inputs["over_limit_by"] = over
        inputs["likely_end_max_excess"] = pool.likely_end_max_excess
        if not may_use_ends or over > pool.likely_end_max_excess:
            return decision(False, refuse, "tenant-limit-reached")

    held = _held_for(tenant, outstanding, free, policies, pool, facts, now, inputs)
    needed = max(over, 0) + (1 if held else 0)
    if needed == 0:
        return decision(True, "admit", "within-tenant-limit")
    if may_use_ends:
        p_end = probability_at_least_k_end(
            tf.calls_in_progress,
            tf.duration_history,
            pool.likely_end_window_s,
            now,
            needed,
            min_history=pool.min_history,
            prior_mean_s=pool.prior_mean_duration_s,
        )
        inputs["ends_needed"] = needed
        inputs["p_end"] = round(p_end, 6)
        inputs["likely_end_window_s"] = pool.likely_end_window_s
        inputs["likely_end_threshold"] = pool.likely_end_threshold
        inputs["duration_samples"] = len(tf.duration_history)
        if p_end >= pool.likely_end_threshold:
            if over > 0:
                return decision(True, "admit", "tenant-limit-reached-but-end-likely")
            return decision(True, "admit", "pool-near-full-but-end-likely")
    if over > 0:
        return decision(False, refuse, "tenant-limit-reached")
    return decision(False, refuse, "held-for-other-tenant")


def _held_for(
    tenant: str,
    outstanding: int,
    free: int,
    policies: Mapping[str, TenantPolicy],
    pool: PoolPolicy,
    facts: PoolFacts,
    now: float,
    inputs: dict[str, InputValue],
) -> str | None:
    """The other tenant this call is held back for when the pool is nearly full, if any."""
    inputs["near_full_margin"] = pool.near_full_margin
    near_full = free <= pool.near_full_margin
    inputs["near_full"] = near_full
    if not near_full:
        return None
    share = max(facts.tenants.get(tenant, NO_FACTS).available_agents, 0)
    inputs["guaranteed_share"] = share
    if outstanding < share:
        return None
    # Arrivals needed in the window for P(arrival soon) >= threshold: a safe lower bound that
    # lets the scan skip most tenants on a length check; the exact test follows.
    thr, soon, window = pool.soon_threshold, pool.soon_window_s, pool.arrival_window_s
    if thr <= 0 or thr >= 1:
        fewest = 0.0
    elif soon <= 0:
        return None
    else:
        fewest = window * -math.log1p(-thr) / soon * (1 - 1e-9)
    for other, other_facts in facts.tenants.items():
        # The tenant itself is skipped here too: its outstanding is >= its share.
        if len(other_facts.recent_arrivals) < fewest:
            continue
        other_share = other_facts.available_agents
        if other_facts.outstanding >= other_share or other not in policies:
            continue
        rate = arrival_rate(other_facts.recent_arrivals, window, now)
        p_soon = probability_arrival_soon(rate, soon)
        if p_soon >= thr:
            inputs["held_for"] = other
            inputs["held_for_outstanding"] = other_facts.outstanding
            inputs["held_for_share"] = other_share
            inputs["p_arrival_soon"] = round(p_soon, 6)
            inputs["soon_window_s"] = soon
            inputs["soon_threshold"] = thr
            return other
    return None


_EXPLANATIONS: dict[Reason, str] = {
    "within-tenant-limit": "admitted: {outstanding} of {permitted} permitted calls in use",
    "tenant-limit-reached": "refused: the tenant already holds {outstanding} of {permitted} "
    "permitted calls",
    "tenant-limit-reached-but-end-likely": "admitted over the limit of {permitted}: a call in "
    "progress is likely to end soon",
    "pool-full": "refused: all {pool_total} shared trunks are in use",
    "held-for-other-tenant": "refused: the shared pool is nearly full and tenant {held_for} is "
    "likely to receive a call soon",
    "pool-near-full-but-end-likely": "admitted although the pool is nearly full: a call in "
    "progress is likely to end soon",
    "unknown-tenant": "refused: no trunk policy for this tenant",
}


def explain(decision: Decision) -> str:
    """One sentence an admin can read, from the decision's reason and inputs."""
    values: dict[str, object] = {
        "outstanding": decision.outstanding,
        "permitted": decision.permitted,
        "pool_total": "?",
        "held_for": "?",
    }
    values.update(decision.inputs)
    return _EXPLANATIONS[decision.reason].format(**values)
