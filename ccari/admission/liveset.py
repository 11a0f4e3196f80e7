"""This node's copy of the live admitted set, kept in step with the database by a token.

Every change of ``trunk_calls`` (on any node) writes a new random token into the pool row,
in the same transaction, under the pool row's lock.  A node that made the last change
knows the token it wrote and what it changed, so its copy is current exactly when the
pool row still carries that token; otherwise (another node's change, a transaction rolled
back, a restart) it reads the rows again.  Pure: no I/O; the admission service feeds it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from ccari.admission.repo import LiveCall


def new_token() -> int:
    """A token no other change will write (62 random bits: fits a signed BIGINT)."""
    return secrets.randbits(62)


class LiveSet:
    __slots__ = ("_token", "_calls")

    def __init__(self) -> None:
        self._token: int | None = None
        self._calls: dict[str, LiveCall] = {}

    def current(self, token: int) -> list[LiveCall] | None:
        """The live calls if this copy is the one ``token`` names, else None (read them)."""
        return list(self._calls.values()) if token == self._token else None

    def load(self, token: int, calls: Iterable[LiveCall]) -> None:
        """The set as just read, with the token read under the same lock."""
        self._token = token
        self._calls = {c.call_id: c for c in calls}

    def changed(self, before: int, after: int, *, added: LiveCall | None = None,
                removed: str | None = None) -> None:
        """This node changed the set while the pool row carried ``before`` and wrote
        ``after``: the copy follows if it was current, and is dropped otherwise."""
        if before != self._token:
            self.forget()
            return
        if added is not None:
            self._calls[added.call_id] = added
        if removed is not None:
            self._calls.pop(removed, None)
        self._token = after

    def forget(self) -> None:
        """Read the set again next time (a write of ours failed or was rolled back)."""
        self._token = None
        self._calls = {}
