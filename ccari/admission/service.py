"""Trunk admission against the database: the executor around the pure :mod:`.policy`.

``AdmissionService`` implements :class:`ccari.voice.ports.AdmissionPort`. Per call it builds
the facts (A from the injected ``available_agents``, the live calls from ``trunk_calls``,
arrivals and call durations from an in-memory :class:`History` refreshed incrementally),
asks :func:`decide_inbound` / :func:`decide_outbound`, records the decision and, if admitted,
adds the call to the live set, all in one transaction:

* PostgreSQL (several ccari nodes share the counters): the transaction first locks the pool
  row (``SELECT ... FROM trunk_pool WHERE id = 1 FOR UPDATE``); every node's decision waits
  for the previous one to commit, then reads the live set (READ COMMITTED: the statement
  after the lock sees the other node's insert) and inserts ``ON CONFLICT DO NOTHING``.
* SQLite (one node): the same statements; ``FOR UPDATE`` is a no-op there and the
  service's lock (one ``AdmissionService`` per process) serialises the decisions.

The service's own lock is taken on both backends, so on PostgreSQL a node's calls queue in
memory rather than on database connections.

``release`` deletes the call (idempotent: a count is the number of rows, never a running
number); ``rebuild`` after a restart drops this node's calls whose channel is gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.admission import repo
from ccari.admission.estimates import Direction
from ccari.admission.history import History
from ccari.admission.liveset import LiveCalls, LiveSet, new_token
from ccari.admission.policy import (
    Decision,
    PoolFacts,
    PoolPolicy,
    TenantFacts,
    TenantPolicy,
    decide_inbound,
    decide_outbound,
    permitted,
)
from ccari.admission.records import utc
from ccari.admission.rows import OVERFLOWS, POOL_FIELDS, PolicyView, pool_policy, tenant_policy
from ccari.errors import NotFound
from ccari.storage.batch import GroupCommit
from ccari.voice.ports import Admission

log = logging.getLogger(__name__)
T = TypeVar("T")

@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    refresh_s: float = 5.0  # read other nodes' arrivals and ended calls at most this often
    overlap_s: float = 30.0  # each read reaches back this far (late commits, clock skew)
    max_durations: int = 500  # call durations kept per tenant
    durations_lookback_s: float = 7 * 86400.0  # how far back the first read goes
    durations_first_read: int = 20_000  # rows, at most, per read of ended calls
    policies_ttl_s: float = 10.0  # other tenants' policies; a tenant's own is read every call


class AdmissionConflict(Exception):
    """Another node admitted the same call id meanwhile."""


class AdmissionService:
    """Implements ``AdmissionPort``; build one per process (its lock is the SQLite guard)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        available_agents: Callable[[int], int],
        *,
        node: str,
        clock: Callable[[], float] = time.time,
        settings: AdmissionSettings = AdmissionSettings(),
        writes: GroupCommit | None = None,
    ) -> None:
        self._sessions = sessions
        # Decisions and releases join the calls' shared commits; the commit worker runs one
        # decision at a time, which (with the pool row lock on PostgreSQL) keeps them serial.
        self._writes = writes or GroupCommit(sessions, name="admission")
        self._available_agents = available_agents
        self.node = node
        self._clock = clock
        self._settings = settings
        self._lock = asyncio.Lock()
        self._history = History(max_durations=settings.max_durations)
        self._live = LiveSet()  # the live admitted set as of this node's last change
        self._refreshed_at: float | None = None
        self._arrival_window_s = PoolPolicy(total_trunks=0).arrival_window_s
        self._policies: dict[str, TenantPolicy] = {}
        self._policies_at: float | None = None

    # ---- the port ------------------------------------------------------------------------
    async def admit_inbound(self, tenant_id: int, call_id: str) -> Admission:
        """Before answering: admit the call (it then holds a trunk) or say how to refuse it."""
        return (await self._admit(tenant_id, call_id, "inbound", None))[0]

    async def admit_inbound_with(self, tenant_id: int, call_id: str,
                                 then: Callable[[Session], T], *,
                                 after_hours: bool | None = None) -> tuple[Admission, T | None]:
        """:meth:`admit_inbound`, and when the call is admitted ``then`` (a write job: the
        call's contact) in the same transaction: the trunk and what it is held for are saved
        together, in one shared commit.  ``then``'s result, or None if refused.

        ``after_hours``: the called number is outside its business hours (True) or inside
        them (False: the after-hours trunks T do not apply, ``permitted = max(A * R, A)``);
        None: it has no hours, T applies as configured."""
        return await self._admit(tenant_id, call_id, "inbound", then, after_hours)

    async def admit_outbound(self, tenant_id: int, call_id: str) -> Admission:
        """Before originating a callback or click-to-call: admit it, or ``defer``."""
        return (await self._admit(tenant_id, call_id, "outbound", None))[0]

    async def would_admit_outbound(self, tenant_id: int) -> bool:
        """Would an outbound call of the tenant be admitted now?  The same rules as
        :meth:`admit_outbound`, read without locking, recording or holding anything: a
        deferred callback asks before trying again."""
        now = self._clock()
        async with self._lock:
            await self._refresh(now)
        async with self._sessions() as s:
            pool = pool_policy(await repo.pool(s))
            tenant = await s.run_sync(repo.policy_sync, tenant_id)
            live = LiveCalls(await repo.live_calls(s))
        if tenant is None:
            return False
        key = str(tenant_id)
        return decide_outbound(key, self._policies_with(key, tenant), pool,
                               self._facts(key, live), now).admit

    def overflow_policies(self) -> dict[int, str]:
        """Every tenant's overflow policy as last read (no I/O)."""
        return {int(k): p.overflow for k, p in self._policies.items()}

    def overflow_of(self, tenant_id: int) -> str:
        """The tenant's overflow policy as last read (no I/O; "busy" if not read yet)."""
        policy = self._policies.get(str(tenant_id))
        return policy.overflow if policy is not None else "busy"

    async def release(self, call_id: str) -> None:
        """The call's channel is gone: free its trunk. Safe to call twice or for unknown ids."""

        def release(s: Session) -> bool:
            before = repo.pool_token_sync(s)
            if not repo.delete_call_sync(s, call_id):
                return False
            after = new_token()
            repo.set_pool_token_sync(s, after)
            self._live.changed(before, after, removed=call_id)
            return True

        try:
            removed = await self._writes.run(release)
        except Exception:
            self._live.forget()
            raise
        if removed:
            log.info("call %s released its trunk", call_id)

    async def rebuild(self, live_channel_ids: Iterable[str], *, as_of: float | None = None) -> int:
        """After a restart or reconnect: drop this node's calls whose channel is not live.

        ``as_of``: when the channel list was taken (``clock()`` before ``GET /channels``); calls
        admitted after it are kept, so a call arriving meanwhile is not dropped."""
        as_of_dt = None if as_of is None else utc(as_of)
        async with self._lock, self._sessions() as s:
            removed = await repo.delete_stale(s, self.node, live_channel_ids, as_of_dt,
                                              new_token())
            await s.commit()
        if removed:
            log.info("admission rebuild on %s: %d calls no longer live were released",
                     self.node, removed)
        return removed

    async def release_node(self, node: str) -> int:
        """Another node died with its calls (several nodes): every trunk it held is freed."""
        async with self._lock, self._sessions() as s:
            removed = await repo.delete_stale(s, node, (), None, new_token())
            await s.commit()
        if removed:
            log.info("admission: %d calls of node %s, gone, were released", removed, node)
        return removed

    # ---- deciding ------------------------------------------------------------------------
    async def _admit(self, tenant_id: int, call_id: str, direction: Direction,
                     then: Callable[[Session], T] | None,
                     after_hours: bool | None = None) -> tuple[Admission, T | None]:
        async with self._lock:
            await self._refresh(self._clock())

        def admit_then(s: Session) -> tuple[Admission, T | None]:
            admission = admit(s)
            return admission, (then(s) if then is not None and admission.admit else None)

        def admit(s: Session) -> Admission:
            now = self._clock()
            pool_row = repo.lock_pool_sync(s)
            pool = pool_policy(pool_row)
            self._arrival_window_s = pool.arrival_window_s
            tenant = repo.policy_sync(s, tenant_id)
            live = self._live.current(pool_row.generation)
            if live is None:
                live = self._live.load(pool_row.generation, repo.live_calls_sync(s))
            holder = live.get(call_id)
            if holder is not None:
                return self._already(holder, tenant_id, direction)
            key = str(tenant_id)
            decide = decide_inbound if direction == "inbound" else decide_outbound
            decision = decide(key, self._policies_with(key, tenant, after_hours), pool,
                              self._facts(key, live), now)
            if after_hours is not None:
                decision.inputs["hours"] = "closed" if after_hours else "open"
            if decision.admit:
                call = repo.LiveCall(call_id, tenant_id, self.node, direction, utc(now))
                if not repo.insert_call_sync(s, call):  # impossible under the pool lock
                    raise AdmissionConflict(f"call {call_id} was admitted concurrently")
                token = new_token()
                repo.set_pool_token_sync(s, token)
                self._live.changed(pool_row.generation, token, added=call)
            if tenant is not None:
                row_id = repo.add_decision_sync(s, **self._row(decision, tenant_id, call_id, now))
                if direction == "inbound":  # the next decision of this batch sees it too
                    self._history.add_arrival(row_id, key, now)
            self._log(decision, call_id)
            return Admission(decision.admit, decision.action, decision.reason)

        try:
            return await self._writes.run(admit_then)
        except AdmissionConflict as exc:
            self._live.forget()
            log.error("%s", exc)
            return Admission(False, "busy", "call-already-admitted"), None
        except Exception:
            self._live.forget()
            raise

    def _policies_with(self, key: str, tenant: repo.PolicyRow | None,
                       after_hours: bool | None = None) -> dict[str, TenantPolicy]:
        """Every tenant's policy, the deciding tenant's as just read (others may be cached);
        within business hours (``after_hours`` False) without its after-hours trunks."""
        policies = {k: p for k, p in self._policies.items() if k != key}
        if tenant is not None:
            own = tenant_policy(tenant)
            if own is not None:
                policies[key] = own if after_hours is not False else dataclasses.replace(
                    own, after_hours_trunks=0)
        return policies

    def _already(self, holder: repo.LiveCall, tenant_id: int, direction: str) -> Admission:
        if holder.tenant_id == tenant_id:
            return Admission(True, "admit", "already-admitted")
        log.warning("call %s is already admitted for tenant %s", holder.call_id, holder.tenant_id)
        return Admission(False, "busy" if direction == "inbound" else "defer",
                         "call-already-admitted")

    def _facts(self, tenant: str, live: LiveCalls) -> PoolFacts:
        keys = live.tenants() | self._history.tenants_with_arrivals() | {tenant}
        facts = {
            k: TenantFacts(
                available_agents=self._agents(int(k)),
                calls_in_progress=live.of(k),
                recent_arrivals=self._history.arrivals(k),
                duration_history=self._history.durations(k),
            )
            for k in sorted(keys, key=int)
        }
        return PoolFacts(facts, len(live))

    def _agents(self, tenant_id: int) -> int:
        return max(int(self._available_agents(tenant_id)), 0)

    def _row(self, d: Decision, tenant_id: int, call_id: str, now: float) -> dict[str, Any]:
        return {"tenant_id": tenant_id, "call_id": call_id, "node": self.node,
                "direction": d.direction, "admit": d.admit, "action": d.action,
                "reason": d.reason, "permitted": d.permitted, "outstanding": d.outstanding,
                "inputs": dict(d.inputs), "at": utc(now)}

    @staticmethod
    def _log(d: Decision, call_id: str) -> None:
        if d.admit:
            log.info("call %s admitted for tenant %s: %s (%d in use of %d)",
                     call_id, d.tenant, d.reason, d.outstanding, d.permitted)
        else:
            log.info("call %s refused for tenant %s: %s -> %s (%d in use of %d)",
                     call_id, d.tenant, d.reason, d.action, d.outstanding, d.permitted)

    async def _refresh(self, now: float) -> None:
        """Read what other nodes added since the last read (arrivals, ended calls, policies)."""
        st = self._settings
        last = self._refreshed_at
        if last is not None and now - last < st.refresh_s:
            return
        window = self._arrival_window_s
        arrivals_since = now - window if last is None else max(now - window, last - st.overlap_s)
        ended_since = now - st.durations_lookback_s if last is None else last - st.overlap_s
        async with self._sessions() as s:
            arrivals = await repo.arrivals_since(s, utc(arrivals_since))
            ended = await repo.ended_calls_since(s, utc(ended_since), limit=st.durations_first_read)
            if self._policies_at is None or now - self._policies_at >= st.policies_ttl_s:
                self._set_policies(await repo.policies(s), now)
        for a in arrivals:
            self._history.add_arrival(a.id, str(a.tenant_id), a.at.timestamp())
        for e in reversed(ended):  # oldest first: the history keeps the latest
            self._history.add_duration(e.contact_id, str(e.tenant_id), e.ended_at.timestamp(),
                                       (e.ended_at - e.arrived_at).total_seconds())
        self._history.prune(arrivals_before=now - window, durations_seen_before=now - st.overlap_s)
        self._refreshed_at = now

    def _set_policies(self, rows: Iterable[repo.PolicyRow], now: float) -> None:
        policies = {}
        for row in rows:
            p = tenant_policy(row)
            if p is not None:
                policies[p.tenant] = p
        self._policies, self._policies_at = policies, now

    # ---- reading and administration ------------------------------------------------------
    async def outstanding(self, tenant_id: int) -> int:
        """Calls the tenant holds now (all nodes)."""
        async with self._sessions() as s:
            return await repo.count_calls(s, tenant_id)

    async def policy(self, tenant_id: int) -> PolicyView:
        async with self._sessions() as s:
            tenant = await repo.tenant(s, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", error_id="tenant-not-found")
            outstanding = await repo.count_calls(s, tenant_id)
        a = self._agents(tenant_id)
        return PolicyView(tenant.id, tenant.slug, tenant.trunk_ratio, tenant.after_hours_trunks,
                          tenant.overflow_policy, a,
                          permitted(a, tenant.trunk_ratio, tenant.after_hours_trunks), outstanding)

    async def set_policy(
        self,
        tenant_id: int,
        *,
        ratio: float | None = None,
        after_hours_trunks: int | None = None,
        overflow: str | None = None,
    ) -> PolicyView:
        """Change a tenant's R, T or overflow action (ValueError if invalid)."""
        if overflow is not None and overflow not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOWS)}")
        async with self._sessions() as s:
            tenant = await repo.tenant(s, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", error_id="tenant-not-found")
            new_ratio = tenant.trunk_ratio if ratio is None else ratio
            new_t = tenant.after_hours_trunks if after_hours_trunks is None else after_hours_trunks
            TenantPolicy(tenant.slug, new_ratio, new_t)  # validates
            tenant.trunk_ratio, tenant.after_hours_trunks = new_ratio, new_t
            if overflow is not None:
                tenant.overflow_policy = overflow
            await s.commit()
        self._policies_at = None  # other nodes see it within policies_ttl_s
        log.info("tenant %s trunk policy: R=%s T=%s overflow=%s", tenant_id, new_ratio, new_t,
                 tenant.overflow_policy)
        return await self.policy(tenant_id)

    async def pool(self) -> dict[str, Any]:
        async with self._sessions() as s:
            row = await repo.pool(s)
            live = await repo.live_calls(s)
            await s.commit()
        return {**{name: getattr(row, name) for name in POOL_FIELDS}, "outstanding": len(live)}

    async def set_pool(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Resize the shared pool or change its tunables (ValueError if invalid)."""
        unknown = set(changes) - set(POOL_FIELDS)
        if unknown:
            raise ValueError(f"unknown pool settings: {', '.join(sorted(unknown))}")
        async with self._lock, self._sessions() as s:
            row = await repo.lock_pool(s)
            merged = {**dataclasses.asdict(pool_policy(row)), **changes}
            PoolPolicy(**merged)  # validates
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utc(self._clock())
            await s.commit()
        log.info("trunk pool changed: %s", dict(changes))
        return await self.pool()
