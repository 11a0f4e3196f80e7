"""The cluster as its operator sees it, read from the shared database.

A ccari node is *connected* while its bus's listening connection is open (``ccari:<node>``
in ``pg_stat_activity``: the proof of life the routing leader goes by,
:mod:`ccari.cluster.nodes`); its *kind* is what its leadership connection says
(``ccari-lead:<node>:calls`` beside an Asterisk, ``:web`` for a node serving the web
only).  Every node named anywhere is listed: connected, with agent pages, or with open
calls (a dead node's calls are listed until the leader has closed them).  The routing
leader is the latest election's node; the media nodes are the Asterisk nodes offered for
agent legs (their peer keys are not shown); the edge's destinations are what Kamailio
dispatches carrier calls to, with their weights.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.cluster.leader import LEAD_PREFIX
from ccari.cluster.models import AgentPage, Leadership
from ccari.cluster.nodes import PREFIX
from ccari.contacts.lifecycle import LIVE
from ccari.edge.repo import destinations
from ccari.edge.weights import CAPACITY, WEIGHT, int_attr
from ccari.routing import CALLS
from ccari.sites.models import MediaNode
from ccari.storage.models import Contact

_CONNECTIONS = text(
    "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
    "AND (application_name LIKE 'ccari:%' OR application_name LIKE 'ccari-lead:%')")


async def calls_per_node(session: AsyncSession) -> dict[str, int]:
    """The open calls (in the IVR, waiting, offered, connected) each node carries."""
    rows = await session.execute(
        select(Contact.node, func.count())
        .where(Contact.state.in_([s.value for s in LIVE]),
               Contact.medium.in_([m.value for m in CALLS]))
        .group_by(Contact.node))
    return {str(node): int(n) for node, n in rows if node}


async def one_node(session: AsyncSession, node: str, *, kind: str,
                   agent_pages: int) -> dict[str, Any]:
    """A node alone (no cluster): itself, leading."""
    calls = await calls_per_node(session)
    return {"cluster": False, "node": node, "leader": {"node": node, "epoch": None},
            "nodes": [{"name": node, "connected": True, "kind": kind,
                       "calls": calls.get(node, 0), "agent_pages": agent_pages}],
            "media_nodes": [], "edge": []}


async def cluster(session: AsyncSession, node: str) -> dict[str, Any]:
    """Every node of the cluster as the database shows it now (PostgreSQL)."""
    connected: set[str] = set()
    kinds: dict[str, str] = {}
    for (name,) in await session.execute(_CONNECTIONS):
        if name.startswith(LEAD_PREFIX):
            who, _, kind = name[len(LEAD_PREFIX):].rpartition(":")
            kinds[who] = kind
        else:
            connected.add(name[len(PREFIX):])
    pages = {str(n): int(c) for n, c in await session.execute(
        select(AgentPage.node, func.count()).group_by(AgentPage.node))}
    calls = await calls_per_node(session)
    leader = await session.get(Leadership, "routing")
    media = await session.scalars(select(MediaNode).order_by(MediaNode.name))
    names = sorted(connected | set(kinds) | set(pages) | set(calls) | {node})
    return {
        "cluster": True, "node": node,
        "leader": None if leader is None else {"node": leader.node, "epoch": leader.epoch},
        "nodes": [{"name": n, "connected": n in connected, "kind": kinds.get(n),
                   "calls": calls.get(n, 0), "agent_pages": pages.get(n, 0)} for n in names],
        "media_nodes": [{"name": m.name, "node": m.node, "sip_uri": m.sip_uri} for m in media],
        "edge": [{"node": d.node, "destination": d.uri, "weight": int_attr(d.attrs, WEIGHT),
                  "capacity": int_attr(d.attrs, CAPACITY)} for d in await destinations(session)],
    }
