"""Which web origins may use a tenant's public endpoints (CORS and websocket Origin)."""

from __future__ import annotations

import time

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.errors import Forbidden
from ccari.public.models import TenantSite


class Origins:
    """Cached per tenant (10 s): checked on every public request."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 10.0) -> None:
        self._sessions = sessions
        self._ttl = ttl_s
        self._cache: dict[int, tuple[float, frozenset[str], bool]] = {}

    async def _site(self, tenant_id: int) -> tuple[float, frozenset[str], bool]:
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit
        async with self._sessions() as s:
            site = await s.scalar(select(TenantSite).where(TenantSite.tenant_id == tenant_id))
        value = frozenset(str(o).rstrip("/") for o in (site.origins if site else []))
        hit = (time.monotonic() + self._ttl, value, bool(site and site.talk_now))
        self._cache[tenant_id] = hit
        return hit

    def forget(self, tenant_id: int) -> None:
        """The tenant's site settings changed on this node: read them again now."""
        self._cache.pop(tenant_id, None)

    async def allowed(self, tenant_id: int) -> frozenset[str]:
        return (await self._site(tenant_id))[1]

    async def talk_now(self, tenant_id: int) -> bool:
        """Does the tenant's widget offer "talk now" (a call from the page)?"""
        return (await self._site(tenant_id))[2]

    async def check(self, request: web.Request, tenant_id: int) -> str | None:
        """The request's Origin if the tenant allows it (None: no Origin, not a browser
        cross-origin call); otherwise 403 ``bad-origin``."""
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        own = {f"{request.scheme}://{request.host}"}
        if origin.rstrip("/") in own or origin.rstrip("/") in await self.allowed(tenant_id):
            return origin
        raise Forbidden("this site may not use the tenant's help service", error_id="bad-origin")


def cors(resp: web.StreamResponse, origin: str | None) -> web.StreamResponse:
    if origin is not None:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
    return resp
