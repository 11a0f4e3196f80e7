"""The loads: every agent leg ccari placed and still counts, by leg id (the ARI channel
id), and what they add up to per site and per media node.

In memory only: after a restart or a reconnect the executor rebuilds it from the live
channels (:meth:`Loads.rebuild`).  A leg is counted from the moment it is dialled (a
ringing leg has its room kept: two legs dialled at once cannot both take the last room)
until its channel ends, whatever ended it.  Releasing twice, or a leg never counted, is a
no-op.  The sums are kept as legs come and go (the routing gate asks a site's load for each
of its agents).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Leg:
    leg_id: str
    tenant_id: int
    site_id: int | None
    node: str
    codec: str
    kbps: float


class Loads:
    def __init__(self) -> None:
        self._legs: dict[str, Leg] = {}
        self._site: dict[int | None, float] = {}
        self._node: dict[str, float] = {}
        # Between mark() and rebuild(): when each leg was added, and the legs released.
        self._seq = 0
        self._added: dict[str, int] = {}
        self._gone: set[str] | None = None

    def add(self, leg: Leg) -> None:
        self.release(leg.leg_id)
        self._legs[leg.leg_id] = leg
        self._seq += 1
        self._added[leg.leg_id] = self._seq
        self._bump(leg, leg.kbps)

    def release(self, leg_id: str) -> Leg | None:
        """Stop counting the leg; the leg, or None if it was not counted."""
        leg = self._legs.pop(leg_id, None)
        self._added.pop(leg_id, None)
        if self._gone is not None:
            self._gone.add(leg_id)
        if leg is not None:
            self._bump(leg, -leg.kbps)
        return leg

    def mark(self) -> int:
        """Before reading the live channels: legs added or released from now on are not
        undone by the :meth:`rebuild` that follows."""
        self._gone = set()
        return self._seq

    def rebuild(self, live: Iterable[Leg], mark: int) -> set[int | None]:
        """Count the ``live`` legs (what Asterisk has), and those added since ``mark``;
        not those released since.  The sites whose legs changed."""
        gone = self._gone or set()
        before = set(self._legs.values())
        legs = {leg.leg_id: leg for leg in live if leg.leg_id not in gone}
        legs.update((i, leg) for i, leg in self._legs.items() if self._added.get(i, 0) > mark)
        self._legs, self._site, self._node, self._gone = {}, {}, {}, None
        added = dict(self._added)
        for leg in legs.values():
            self._legs[leg.leg_id] = leg
            self._bump(leg, leg.kbps)
        self._added = {i: added.get(i, 0) for i in self._legs}
        return {leg.site_id for leg in before ^ set(self._legs.values())}

    def _bump(self, leg: Leg, kbps: float) -> None:
        self._site[leg.site_id] = round(self._site.get(leg.site_id, 0.0) + kbps, 1)
        self._node[leg.node] = round(self._node.get(leg.node, 0.0) + kbps, 1)

    def get(self, leg_id: str) -> Leg | None:
        return self._legs.get(leg_id)

    def legs(self) -> list[Leg]:
        return list(self._legs.values())

    def site(self, site_id: int | None) -> float:
        return max(0.0, self._site.get(site_id, 0.0))

    def site_calls(self, site_id: int | None) -> int:
        return sum(1 for leg in self._legs.values() if leg.site_id == site_id)

    def nodes(self, names: Iterable[str]) -> dict[str, float]:
        """Each of ``names``' load (0 for a node with no leg)."""
        return {name: max(0.0, self._node.get(name, 0.0)) for name in names}

    def __len__(self) -> int:
        return len(self._legs)
