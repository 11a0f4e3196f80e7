"""The agent legs the other nodes of a cluster count: a site's WAN link carries the calls
every node places to its agents, so each node's routing gate and codec choice add them up.

Each node saves the legs it counts (``media_legs``: from dialling to the channel's end; its
own replaced by what its Asterisk has at each reconcile) and tells the others to look
(topic ``sites``, nothing in it: the rows are the data).  A node reads the others' sums when
told, after a resync of the bus, and before it places a leg.  A dead node's rows are
dropped by the routing leader (:meth:`SharedLegs.release_node`).  Two nodes placing the last
room of one site within the same few milliseconds can both take it: the leader's routing
gate, which offers one call at a time, keeps that to a moment.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.cluster.bus import Bus
from ccari.sites.accounting import Leg
from ccari.sites.models import MediaLeg, MediaNode

log = logging.getLogger(__name__)
TOPIC = "sites"


@dataclass(frozen=True)
class Elsewhere:
    """What the other nodes count: kbit/s and calls by site, kbit/s by media node."""

    sites: Mapping[int | None, float] = field(default_factory=dict)
    calls: Mapping[int | None, int] = field(default_factory=dict)
    nodes: Mapping[str, float] = field(default_factory=dict)

    def site(self, site_id: int | None) -> float:
        return self.sites.get(site_id, 0.0)

    def site_calls(self, site_id: int | None) -> int:
        return self.calls.get(site_id, 0)

    def changed(self, other: Elsewhere) -> set[int | None]:
        """The sites whose load differs between the two."""
        return {s for s in set(self.sites) | set(other.sites) if self.site(s) != other.site(s)}


@dataclass(frozen=True)
class Peer:
    """Another node's Asterisk as an agent leg reaches it: its ``ccari-peer`` endpoint."""

    name: str
    sip_uri: str  # sip:<host>:<port>
    key: str  # sent in X-Ccari-Peer: the only way in


class SharedLegs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus) -> None:
        self._sessions = sessions
        self._bus = bus
        self.here = bus.node

    def on_told(self, callback: Callable[[], Awaitable[None]]) -> None:
        """``callback()`` when another node's legs changed, or may have (a resync)."""
        async def told(payload: dict[str, Any]) -> None:
            await callback()

        self._bus.subscribe(TOPIC, told)
        self._bus.on_resync(callback)

    async def saved(self, leg: Leg) -> None:
        await self._write(lambda s: _put(s, self.here, (leg,)), f"leg {leg.leg_id} not shared")

    async def gone(self, leg_id: str) -> None:
        await self._write(lambda s: s.execute(delete(MediaLeg).where(
            MediaLeg.leg_id == leg_id, MediaLeg.placed_by == self.here)),
            f"leg {leg_id} still shared")

    async def replace(self, legs: Iterable[Leg]) -> None:
        """This node's legs are exactly ``legs`` (what its Asterisk has)."""
        legs = tuple(legs)

        async def write(s: AsyncSession) -> None:
            await s.execute(delete(MediaLeg).where(MediaLeg.placed_by == self.here))
            await _put(s, self.here, legs)

        await self._write(write, "this node's legs not shared")

    async def release_node(self, node: str) -> None:
        """A dead node's legs are counted no more (by the routing leader)."""
        await self._write(lambda s: s.execute(delete(MediaLeg).where(
            MediaLeg.placed_by == node)), f"node {node}'s legs still shared")

    async def register(self, name: str, sip_uri: str, peer_key: str) -> None:
        """This node's Asterisk (instance ``name``) as a media node others may place legs
        from: where its ``ccari-peer`` endpoint takes them, and its key."""
        await self._write(lambda s: s.merge(MediaNode(name=name, node=self.here,
                                                      sip_uri=sip_uri, peer_key=peer_key)),
                          f"media node {name} not registered")

    async def unregister(self, name: str) -> None:
        """This node's Asterisk is no longer offered (its ARI connection lost)."""
        await self._write(lambda s: s.execute(delete(MediaNode).where(
            MediaNode.name == name, MediaNode.node == self.here)),
            f"media node {name} still registered")

    async def media_nodes(self) -> dict[str, Peer]:
        """The media nodes whose ccari is alive now (on PostgreSQL: its bus connection
        open) and connected to its Asterisk, by instance name."""
        query = select(MediaNode)
        async with self._sessions() as s:
            if s.bind.dialect.name == "postgresql":
                query = query.where(MediaNode.node.in_(select(text(
                    "substr(application_name, 7) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name LIKE 'ccari:%'"))))
            rows = await s.scalars(query)
            return {r.name: Peer(r.name, r.sip_uri, r.peer_key) for r in rows}

    async def elsewhere(self) -> Elsewhere:
        """The other nodes' sums now."""
        query = (select(MediaLeg.site_id, MediaLeg.node, func.sum(MediaLeg.kbps), func.count())
                 .where(MediaLeg.placed_by != self.here)
                 .group_by(MediaLeg.site_id, MediaLeg.node))
        async with self._sessions() as s:
            rows = (await s.execute(query)).all()
        sites: dict[int | None, float] = {}
        calls: dict[int | None, int] = {}
        nodes: dict[str, float] = {}
        for site_id, node, kbps, count in rows:
            sites[site_id] = round(sites.get(site_id, 0.0) + float(kbps), 1)
            calls[site_id] = calls.get(site_id, 0) + int(count)
            nodes[node] = round(nodes.get(node, 0.0) + float(kbps), 1)
        return Elsewhere(sites, calls, nodes)

    async def _write(self, job: Callable[[AsyncSession], Awaitable[Any]], failed: str) -> None:
        """Save, then tell the others (a database away: logged, set right at the next
        reconcile of this node's legs)."""
        try:
            async with self._sessions() as s:
                await job(s)
                await s.commit()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("sites: %s: %s", failed, exc)
            return
        await self._bus.publish(TOPIC, {})


async def _put(s: AsyncSession, here: str, legs: Iterable[Leg]) -> None:
    for leg in legs:
        await s.merge(MediaLeg(leg_id=leg.leg_id, placed_by=here, tenant_id=leg.tenant_id,
                               site_id=leg.site_id, node=leg.node, codec=leg.codec,
                               kbps=leg.kbps))
