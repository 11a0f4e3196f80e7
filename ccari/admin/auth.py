"""Bearer tokens: the global admin token sees every tenant, a tenant token only its own."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ccari import keys
from ccari.errors import Forbidden, Unauthorized
from ccari.tenants import repo as tenants_repo
from ccari.web.security import same_secret


@dataclass(frozen=True)
class Principal:
    tenant_id: int | None  # None: the global admin

    def scope(self, tenant_id: int | None) -> int:
        """The tenant a request may act on; a tenant token can only name itself."""
        if self.tenant_id is None:
            if tenant_id is None:
                raise Forbidden("name a tenant with ?tenant=<slug>", error_id="tenant-required")
            return tenant_id
        if tenant_id is not None and tenant_id != self.tenant_id:
            raise Forbidden("this token belongs to another tenant", error_id="wrong-tenant")
        return self.tenant_id


async def principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token>", error_id="token-required")
    admin = request.app[keys.CONFIG].admin_token
    if admin and same_secret(admin, token):
        return Principal(None)
    async with request.app[keys.SESSIONS]() as s:
        tenant = await tenants_repo.by_token(s, token)
    if tenant is None:
        raise Unauthorized("unknown token", error_id="bad-token")
    return Principal(tenant.id)


async def tenant_scope(request: web.Request) -> int:
    return (await scoped(request))[1]


async def scoped(request: web.Request) -> tuple[Principal, int]:
    """The token's principal and the tenant it acts on (``?tenant=`` for the admin)."""
    who = await principal(request)
    slug = request.query.get("tenant")
    tenant_id = None
    if slug:
        async with request.app[keys.SESSIONS]() as s:
            tenant = await tenants_repo.by_slug(s, slug)
        if tenant is None:
            raise Forbidden("unknown tenant", error_id="wrong-tenant")
        tenant_id = tenant.id
    return who, who.scope(tenant_id)
