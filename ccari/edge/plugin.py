"""Wiring of the SIP edge into the runtime (after the cluster: it needs the leadership).

Off (``edge.enabled`` false): nothing.  On: a node that carries calls registers its own
Asterisk as a destination (by its node name), and every node runs the
:class:`~ccari.edge.keeper.WeightKeeper`, which acts while the node leads the routing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import aiohttp

from ccari.edge import repo
from ccari.edge.keeper import WeightKeeper
from ccari.edge.rpc import KamailioRpc

if TYPE_CHECKING:
    from ccari.app import Runtime

log = logging.getLogger(__name__)


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    cfg = rt.config
    if not cfg.edge.enabled:
        return
    if rt.carries_calls:
        uri = cfg.media_uri
        async with rt.sessions() as s:
            changed = await repo.register(s, cfg.node, uri, cfg.edge.node_capacity)
            await s.commit()
        log.info("edge: node %s's Asterisk at %s %s", cfg.node, uri,
                 "registered" if changed else "already registered")
    http = await stack.enter_async_context(aiohttp.ClientSession())

    def leading() -> bool:
        return rt.leadership is None or rt.leadership.leading

    rpc = KamailioRpc(http, cfg.edge.rpc_url, cfg.edge.rpc_key)
    keeper = WeightKeeper(rt.sessions, rpc, leading=leading, every_s=cfg.edge.update_s,
                          default_capacity=cfg.edge.node_capacity)
    keeper.start()
    stack.push_async_callback(keeper.close)
    rt.metrics.gauge("ccari_edge_rpc_reachable",
                     "0 while the routing leader cannot reach Kamailio's RPC",
                     lambda: 1 if keeper.reachable else 0)
