"""The routing leader's task: every ``update_s`` the weights of the destinations from the
calls each node carries (:func:`ccari.edge.weights.plan`), written into the table, and
Kamailio asked to reload when the table differs from what it last loaded.

Runs on every node, acts only while the node leads (one node: always).  A new lead reloads
Kamailio once.  Kamailio forgets on a reload which destinations were inactive: the ones it
listed inactive just before are set inactive again (probed: back at their next answer).  A
Kamailio that cannot be reached is logged once per outage and asked again at each round; the
node goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.edge import repo
from ccari.edge.rpc import EdgeRpcError, EdgeUnreachable, KamailioRpc
from ccari.edge.weights import Destination, plan
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
Loaded = tuple[tuple[int, str, str], ...]  # (row id, destination, attrs): what Kamailio read


class WeightKeeper:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], rpc: KamailioRpc, *,
                 leading: Callable[[], bool], every_s: float, default_capacity: int) -> None:
        self._sessions = sessions
        self._rpc = rpc
        self._leading = leading
        self._every_s = every_s
        self._capacity = default_capacity
        self._loaded: Loaded | None = None
        self._failing: str | None = None  # what failed at the last round (logged once)
        self._tasks = TaskSet("edge-weights")
        self.rounds = 0  # rounds done while leading or not (tests wait on it)
        self.reloads = 0

    @property
    def reachable(self) -> bool:
        return self._failing != "kamailio"

    def start(self) -> None:
        self._tasks.spawn(self._run(), "keep")

    async def close(self) -> None:
        await self._tasks.close()

    async def _run(self) -> None:
        while True:
            if self._leading():
                await self._round()
            else:
                self._loaded = None  # led again later: reload once
            self.rounds += 1
            await asyncio.sleep(self._every_s)

    async def _round(self) -> None:
        try:
            await self.tick()
        except (EdgeUnreachable, EdgeRpcError) as exc:
            self._failed("kamailio", "edge: Kamailio's RPC at %s failed (%s): the weights are "
                         "kept and sent once it answers", self._rpc.url, exc)
            return
        except Exception as exc:  # the database away: try again next round
            self._failed("database", "edge: could not read or write the weights (%r)", exc)
            return
        if self._failing is not None:
            log.info("edge: weights kept again (%s back)", self._failing)
            self._failing = None

    def _failed(self, what: str, message: str, *args: object) -> None:
        if self._failing != what:
            log.warning(message, *args)
        self._failing = what

    async def tick(self) -> bool:
        """One round: the weights brought up to date; True if Kamailio was reloaded."""
        async with self._sessions() as s:
            rows = await repo.destinations(s)
            changes = plan(rows, await repo.calls_per_node(s), self._capacity)
            if changes:
                await repo.set_attrs(s, changes)
                await s.commit()
        loaded = _loaded(rows, changes)
        if loaded == self._loaded:
            return False
        for d in rows:
            if d.id in changes:
                log.info("edge: node %s now %s", d.node, changes[d.id])
        await self._reload({uri for _, uri, _ in loaded})
        self._loaded = loaded
        self.reloads += 1
        return True

    async def _reload(self, uris: set[str]) -> None:
        down = [d for d in await self._rpc.destinations() if d.inactive and d.uri in uris]
        await self._rpc.reload()
        for d in down:
            await self._rpc.set_state("ip", d.setid, d.uri)


def _loaded(rows: Sequence[Destination], changes: dict[int, str]) -> Loaded:
    return tuple((d.id, d.uri, changes.get(d.id, d.attrs)) for d in rows)
