"""This node's copy of the live admitted set, kept in step with the database by a token.

Every change of ``trunk_calls`` (on any node) writes a new random token into the pool row,
in the same transaction, under the pool row's lock.  A node that made the last change
knows the token it wrote and what it changed, so its copy is current exactly when the
pool row still carries that token; otherwise (another node's change, a transaction rolled
back, a restart) it reads the rows again.  Pure: no I/O; the admission service feeds it.

The copy is indexed the way a decision reads it (:class:`LiveCalls`): a call by its id,
and each tenant's calls in progress kept as they change, so that a decision costs the
same with ten calls up as with two thousand.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator

from ccari.admission.estimates import CallInProgress
from ccari.admission.repo import LiveCall


def new_token() -> int:
    """A token no other change will write (62 random bits: fits a signed BIGINT)."""
    return secrets.randbits(62)


def in_progress(call: LiveCall) -> CallInProgress:
    return CallInProgress(call.started_at.timestamp(),
                          "outbound" if call.direction == "outbound" else "inbound")


class LiveCalls:
    """The calls holding a trunk: by call id, and by tenant (the key the policy uses)."""

    __slots__ = ("_calls", "_tenants", "_tuples")

    def __init__(self, calls: Iterable[LiveCall] = ()) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._tenants: dict[str, dict[str, CallInProgress]] = {}
        self._tuples: dict[str, tuple[CallInProgress, ...]] = {}
        for call in calls:
            self.add(call)

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[LiveCall]:
        return iter(self._calls.values())

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def add(self, call: LiveCall) -> None:
        self.remove(call.call_id)
        self._calls[call.call_id] = call
        key = str(call.tenant_id)
        self._tenants.setdefault(key, {})[call.call_id] = in_progress(call)
        self._tuples.pop(key, None)

    def remove(self, call_id: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        key = str(call.tenant_id)
        calls = self._tenants[key]
        del calls[call_id]
        if not calls:
            del self._tenants[key]
        self._tuples.pop(key, None)

    def tenants(self) -> set[str]:
        """The tenants with a call in progress."""
        return set(self._tenants)

    def of(self, tenant: str) -> tuple[CallInProgress, ...]:
        """The tenant's calls in progress (the same tuple until they change)."""
        cached = self._tuples.get(tenant)
        if cached is None:
            cached = self._tuples[tenant] = tuple(self._tenants.get(tenant, {}).values())
        return cached


class LiveSet:
    __slots__ = ("_token", "_calls")

    def __init__(self) -> None:
        self._token: int | None = None
        self._calls = LiveCalls()

    def current(self, token: int) -> LiveCalls | None:
        """The live calls if this copy is the one ``token`` names, else None (read them).
        Read them before this set's next change: that changes them in place."""
        return self._calls if token == self._token else None

    def load(self, token: int, calls: Iterable[LiveCall]) -> LiveCalls:
        """The set as just read, with the token read under the same lock."""
        self._token = token
        self._calls = LiveCalls(calls)
        return self._calls

    def changed(self, before: int, after: int, *, added: LiveCall | None = None,
                removed: str | None = None) -> None:
        """This node changed the set while the pool row carried ``before`` and wrote
        ``after``: the copy follows if it was current, and is dropped otherwise."""
        if before != self._token:
            self.forget()
            return
        if added is not None:
            self._calls.add(added)
        if removed is not None:
            self._calls.remove(removed)
        self._token = after

    def forget(self) -> None:
        """Read the set again next time (a write of ours failed or was rolled back)."""
        self._token = None
        self._calls = LiveCalls()
