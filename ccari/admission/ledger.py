"""The in-memory ledger of admitted calls: who holds which trunk, counted so it never drifts.

Pure (no I/O). Calls are keyed by a stable id (the ARI channel id), so every operation is
idempotent: admitting the same call twice counts it once, releasing an unknown or already
released call is a no-op, and a count is always the size of a set, never a running number
that could go negative. After a restart or reconnect, :meth:`Ledger.rebuild` replaces the
whole ledger with the live channels.

Use it as decide -> admit in one step with no ``await`` in between (asyncio runs it
atomically in one process); release on every hang-up and every failure path::

    decision = decide_inbound(tenant, policies, pool, ledger_facts, now)
    if decision.admit:
        ledger.admit(tenant, channel_id, started_at=now)
    ...
    ledger.release(channel_id)  # StasisEnd, ChannelDestroyed, originate failure: all safe
"""

from __future__ import annotations

from collections.abc import Mapping

from ccari.admission.estimates import CallInProgress, Direction
from ccari.errors import Conflict


class CallAlreadyAdmitted(Conflict):
    """The call is already admitted for another tenant."""

    error_id = "call-already-admitted"


class Ledger:
    """Admitted calls per tenant, keyed by call id."""

    __slots__ = ("_tenant_of", "_calls", "_cache")

    def __init__(self) -> None:
        self._tenant_of: dict[str, str] = {}
        self._calls: dict[str, dict[str, CallInProgress]] = {}
        self._cache: dict[str, tuple[CallInProgress, ...]] = {}

    def admit(
        self,
        tenant: str,
        call_id: str,
        *,
        started_at: float,
        direction: Direction = "inbound",
    ) -> bool:
        """Count ``call_id`` for ``tenant``; False if it was already counted (a no-op)."""
        holder = self._tenant_of.get(call_id)
        if holder == tenant:
            return False
        if holder is not None:
            raise CallAlreadyAdmitted(f"call {call_id} is admitted for tenant {holder}")
        self._tenant_of[call_id] = tenant
        self._calls.setdefault(tenant, {})[call_id] = CallInProgress(started_at, direction)
        self._cache.pop(tenant, None)
        return True

    def release(self, call_id: str) -> str | None:
        """Stop counting ``call_id``; the tenant it was counted for, or None (a no-op)."""
        tenant = self._tenant_of.pop(call_id, None)
        if tenant is None:
            return None
        calls = self._calls[tenant]
        del calls[call_id]
        if not calls:
            del self._calls[tenant]
        self._cache.pop(tenant, None)
        return tenant

    def rebuild(self, live_calls_by_tenant: Mapping[str, Mapping[str, CallInProgress]]) -> None:
        """Replace everything with the live calls (from ``GET /channels`` after a restart)."""
        tenant_of: dict[str, str] = {}
        calls: dict[str, dict[str, CallInProgress]] = {}
        for tenant, live in live_calls_by_tenant.items():
            for call_id, call in live.items():
                holder = tenant_of.setdefault(call_id, tenant)
                if holder != tenant:
                    raise CallAlreadyAdmitted(f"call {call_id} is live for {holder} and {tenant}")
                calls.setdefault(tenant, {})[call_id] = call
        self._tenant_of = tenant_of
        self._calls = calls
        self._cache = {}

    def count(self, tenant: str) -> int:
        """Calls ``tenant`` holds now."""
        return len(self._calls.get(tenant, ()))

    @property
    def total(self) -> int:
        """Calls all tenants hold now: the pool's outstanding count."""
        return len(self._tenant_of)

    def calls(self, tenant: str) -> tuple[CallInProgress, ...]:
        """The tenant's calls in progress, as :class:`TenantFacts` wants them (cached)."""
        cached = self._cache.get(tenant)
        if cached is None:
            cached = tuple(self._calls.get(tenant, {}).values())
            self._cache[tenant] = cached
        return cached

    def call_ids(self, tenant: str) -> frozenset[str]:
        return frozenset(self._calls.get(tenant, ()))

    def tenant_of(self, call_id: str) -> str | None:
        return self._tenant_of.get(call_id)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._tenant_of

    def counts(self) -> dict[str, int]:
        """Calls held per tenant (tenants with none are absent)."""
        return {t: len(c) for t, c in self._calls.items()}
