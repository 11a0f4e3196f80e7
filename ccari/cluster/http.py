"""The cluster's state for its operator (internal listener, the admin token only):

    GET /api/cluster    this node, the routing leader, every ccari node the shared database
                        knows (connected or not, what it runs beside, its open calls and
                        agent pages), the media nodes offered for agent legs, the SIP edge's
                        destinations with their weights

One node (no cluster) answers for itself alone.  401 ``token-required`` / ``bad-token``;
403 ``admin-only`` for a tenant's token (the cluster is the platform's, not a tenant's).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ccari import keys
from ccari.admin.auth import principal
from ccari.agents.notifier import AgentHub
from ccari.cluster import status
from ccari.errors import Forbidden


def internal_setup(*, node: str, clustered: bool, carries_calls: bool,
                   hub: AgentHub) -> Callable[[web.Application], None]:
    async def get_cluster(request: web.Request) -> web.Response:
        if (await principal(request)).tenant_id is not None:
            raise Forbidden("the cluster's state is the platform admin's", error_id="admin-only")
        async with request.app[keys.SESSIONS]() as s:
            if clustered:
                body = await status.cluster(s, node)
            else:
                body = await status.one_node(s, node, kind="calls" if carries_calls else "web",
                                             agent_pages=len(hub.agent_ids()))
        return web.json_response(body)

    def setup(app: web.Application) -> None:
        app.router.add_get("/api/cluster", get_cluster)

    return setup
