"""Admin API of the SIP attack guard (internal listener, global admin token only: the
blocks are PBX-wide, no tenant owns them).

``GET /api/security/blocks[?active=1&limit=N]``: the security log, newest first.
``DELETE /api/security/blocks/{address}``: lift the running block of an address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from aiohttp import web

from ccari import keys
from ccari.admin.auth import principal
from ccari.errors import BadRequest, Forbidden, NotFound
from ccari.security import repo, schemas
from ccari.security.services import SecurityService


async def _admin(request: web.Request) -> str:
    who = await principal(request)
    if who.tenant_id is not None:
        raise Forbidden("the SIP security log is the platform admin's", error_id="admin-only")
    return "admin"


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("limit", "100")), 1000))
    except ValueError:
        raise BadRequest("limit must be a whole number", error_id="invalid-limit") from None


def internal_setup(service: SecurityService) -> Callable[[web.Application], None]:
    async def list_blocks(request: web.Request) -> web.Response:
        await _admin(request)
        limit = _limit(request)
        now = dt.datetime.now(dt.UTC)
        async with request.app[keys.SESSIONS]() as s:
            if request.query.get("active") in ("1", "true", "yes"):
                rows = (await repo.active(s, now.timestamp()))[-limit:]
            else:
                rows = await repo.log(s, limit)
        return web.json_response({"blocks": [schemas.block_json(r, now) for r in rows]})

    async def unblock(request: web.Request) -> web.Response:
        who = await _admin(request)
        address = schemas.address(request.match_info["address"])
        lifted = await service.unblock(address, who)
        if not lifted:
            raise NotFound("this address is not blocked", error_id="not-blocked")
        return web.json_response({"address": address, "lifted": lifted})

    def setup(app: web.Application) -> None:
        app.router.add_get("/api/security/blocks", list_blocks)
        app.router.add_delete("/api/security/blocks/{address}", unblock)

    return setup
