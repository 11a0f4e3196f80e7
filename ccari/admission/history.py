"""Recent arrivals and call durations per tenant, kept in memory between decisions.

Pure (no I/O, no clock): :class:`AdmissionService` feeds it the rows it reads from the database
*incrementally* (only rows newer than its last read, with an overlap for late commits and
clock skew between nodes), and its own decisions as it makes them. Rows are keyed, so a row
seen twice (the overlap) is counted once. The :class:`Samples` each decision needs are built
once per change, not per decision.

Arrivals are inbound admission decisions (every call that arrived, admitted or not), kept for
the arrival window. Durations are trunk holding times of ended voice contacts
(``ended_at - arrived_at``), the last ``max_durations`` per tenant.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from ccari.admission.estimates import EMPTY, Samples


class History:
    __slots__ = ("_max_durations", "_arrivals", "_durations", "_seen_durations", "_cache")

    def __init__(self, *, max_durations: int = 500) -> None:
        if max_durations < 1:
            raise ValueError("max_durations must be >= 1")
        self._max_durations = max_durations
        self._arrivals: dict[str, dict[Hashable, float]] = {}
        self._durations: dict[str, deque[float]] = {}
        self._seen_durations: dict[Hashable, float] = {}  # key -> ended_at, for the overlap
        self._cache: dict[tuple[str, str], Samples] = {}

    # ---- feeding -------------------------------------------------------------------------
    def add_arrival(self, key: Hashable, tenant: str, at: float) -> bool:
        """Count an arrival once; False if ``key`` was already counted."""
        arrivals = self._arrivals.setdefault(tenant, {})
        if key in arrivals:
            return False
        arrivals[key] = at
        cached = self._cache.pop(("a", tenant), None)
        if cached is not None and (not cached.values or at >= cached.values[-1]):
            self._cache[("a", tenant)] = cached.appended(at)  # the usual case: no re-sort
        return True

    def add_duration(self, key: Hashable, tenant: str, ended_at: float, duration_s: float) -> bool:
        """Add a finished call's duration once; False if ``key`` was already added."""
        if key in self._seen_durations:
            return False
        self._seen_durations[key] = ended_at
        kept = self._durations.get(tenant)
        if kept is None:
            kept = self._durations[tenant] = deque(maxlen=self._max_durations)
        kept.append(max(duration_s, 0.0))
        self._cache.pop(("d", tenant), None)
        return True

    def prune(self, *, arrivals_before: float, durations_seen_before: float) -> None:
        """Drop arrivals older than the window, and the dedup keys of durations that no
        later read can return again (ended before that read's lower bound)."""
        for tenant in list(self._arrivals):
            arrivals = self._arrivals[tenant]
            old = [k for k, at in arrivals.items() if at < arrivals_before]
            for k in old:
                del arrivals[k]
            if old:
                self._cache.pop(("a", tenant), None)
            if not arrivals:
                del self._arrivals[tenant]
        seen = self._seen_durations
        for k in [k for k, ended in seen.items() if ended < durations_seen_before]:
            del seen[k]

    # ---- reading -------------------------------------------------------------------------
    def arrivals(self, tenant: str) -> Samples:
        """Arrival timestamps of ``tenant`` in the window (ascending)."""
        return self._samples("a", tenant)

    def durations(self, tenant: str) -> Samples:
        """The tenant's recent call durations (seconds, ascending)."""
        return self._samples("d", tenant)

    def tenants_with_arrivals(self) -> frozenset[str]:
        return frozenset(self._arrivals)

    def _samples(self, kind: str, tenant: str) -> Samples:
        cached = self._cache.get((kind, tenant))
        if cached is None:
            if kind == "a":
                values: list[float] | deque[float] | None = (
                    list(self._arrivals[tenant].values()) if tenant in self._arrivals else None
                )
            else:
                values = self._durations.get(tenant)
            cached = Samples.of(values) if values else EMPTY
            self._cache[(kind, tenant)] = cached
        return cached
