"""Trunk admission per tenant on the shared trunk pool, and usage accounting.

Pure core: :mod:`.policy` (the decisions), :mod:`.estimates` (arrival and call-end
probabilities), :mod:`.ledger` (admitted calls, idempotent), :mod:`.billing` (usage and bills),
:mod:`.history` (the recent arrivals and durations kept between decisions).

I/O side (import them by module; this package stays importable without a database):
:mod:`.service` (``AdmissionService``, the voice path's ``AdmissionPort``), :mod:`.repo`
(tables ``trunk_pool``, ``trunk_calls``, ``admission_decisions``, ``tenant_rates``),
:mod:`.accounting` (usage records from contacts), :mod:`.http` (the REST API).
"""

from ccari.admission.estimates import (
    CallInProgress,
    Samples,
    arrival_rate,
    probability_arrival_soon,
    probability_at_least_k_end,
    probability_call_ends,
    probability_some_call_ends,
)
from ccari.admission.ledger import CallAlreadyAdmitted, Ledger
from ccari.admission.policy import (
    Decision,
    PoolFacts,
    PoolPolicy,
    TenantFacts,
    TenantPolicy,
    decide_inbound,
    decide_outbound,
    explain,
    permitted,
)

__all__ = [
    "CallAlreadyAdmitted",
    "CallInProgress",
    "Decision",
    "Ledger",
    "PoolFacts",
    "PoolPolicy",
    "Samples",
    "TenantFacts",
    "TenantPolicy",
    "arrival_rate",
    "decide_inbound",
    "decide_outbound",
    "explain",
    "permitted",
    "probability_arrival_soon",
    "probability_at_least_k_end",
    "probability_call_ends",
    "probability_some_call_ends",
]
