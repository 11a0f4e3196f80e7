"""Wiring of the cluster into the runtime (called once by ccari.app.runtime, first).

One node (``cluster.enabled`` off): an in-process bus with nobody to tell, and the queue
routes this node's contacts as it always did.  Several nodes: the PostgreSQL bus, and the
routing :class:`~ccari.cluster.leader.Leadership`, and the queue's role
(:class:`~ccari.cluster.routing.ClusterRole`, attached once): only the leader routes
(every node's contacts, rebuilt from the database when it is elected), its offers fenced
by its epoch; the other nodes tell it, over the bus, of contacts that came or went.  A
call is rung, and its controls run, on the node whose Asterisk carries it.  Either way the
operator reads the cluster's state at ``GET /api/cluster`` (ccari.cluster.http).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from ccari.cluster import http
from ccari.cluster.bus import LocalBus
from ccari.cluster.commands import CommandRelay
from ccari.cluster.leader import Leadership
from ccari.cluster.lost import LostCalls
from ccari.cluster.nodes import NodeWatch
from ccari.cluster.postgres import PgBus, dsn_of
from ccari.cluster.resume import CallsElsewhere
from ccari.cluster.routing import ClusterRole

if TYPE_CHECKING:
    from ccari.app import Runtime

log = logging.getLogger(__name__)


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    cfg = rt.config
    rt.internal_setups.append(http.internal_setup(
        node=cfg.node, clustered=cfg.cluster.enabled, carries_calls=rt.carries_calls,
        hub=rt.hub))
    if not cfg.cluster.enabled:
        rt.bus = LocalBus(cfg.node)
        return
    dsn = dsn_of(cfg.database.url)
    bus = PgBus(rt.engine, dsn, cfg.node, reconnect_max_s=cfg.cluster.reconnect_max_s,
                check_s=cfg.cluster.leader_check_s)
    queue = rt.queue

    async def deposed() -> None:
        await queue.stop_routing()
        if rt.offers is not None:
            await rt.offers.withdraw_all()

    leadership = Leadership(dsn, cfg.node, on_elected=lambda _: role.elected(),
                            on_deposed=deposed, check_s=cfg.cluster.leader_check_s,
                            carries_calls=rt.carries_calls)
    assert rt.offers is not None
    role = ClusterRole(leadership, bus, rt.sessions, rt.hub, queue, rt.offers)
    queue.attach_role(role)
    rt.bus, rt.leadership = bus, leadership
    rt.metrics.gauge("ccari_cluster_leading", "1 while this node is the routing leader",
                     lambda: float(leadership.leading))
    rt.metrics.gauge("ccari_cluster_listening",
                     "1 while this node's bus listens (its proof of life to the other nodes)",
                     lambda: float(bus.connection is not None))
    await bus.start()
    stack.push_async_callback(bus.close)
    stack.push_async_callback(role.states.close)
    await role.states.ask()
    await role.cluster_pages.start()
    stack.push_async_callback(role.cluster_pages.close)
    stack.push_async_callback(leadership.close)
    lost = LostCalls(rt.sessions, queue, trunks=lambda: rt.admission,
                     callbacks=lambda: rt.ivr_callbacks, adoption=lambda: rt.adoption,
                     legs=lambda: rt.sites)
    watch = NodeWatch(rt.sessions, cfg.node, leading=lambda: leadership.leading,
                      forgotten=role.pages_lost, calls_lost=lost.node_lost,
                      timeout_s=cfg.cluster.node_timeout_s,
                      check_s=cfg.cluster.leader_check_s)
    watch.start()
    stack.push_async_callback(watch.close)
    # An agent's call controls reach a call another node's Asterisk carries.
    relay = CommandRelay(bus, rt.sessions, rt.commands)
    rt.commands.relay = relay
    stack.push_async_callback(relay.close)
    # A reopened agent page is told her live calls whatever node carries them.
    rt.calls_elsewhere = CallsElsewhere(relay, rt.sessions, cfg.node)
    log.info("cluster: node %s joined (routing by the leader)", cfg.node)


async def start_routing(rt: Runtime) -> None:
    """One node: route now.  Several: route while this node leads."""
    if rt.leadership is None:
        await rt.queue.start()
    else:
        rt.leadership.start()
