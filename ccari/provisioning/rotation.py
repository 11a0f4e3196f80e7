"""Secrets rotated without a restart: a tenant's API token and an agent's SIP password.

Each rotation draws a new random secret, saves its stored form and an audit entry (which
names the secret, never its value) in one transaction, and only then answers with it: the
one time it is shown.  A tenant's token is looked up by its hash on every request, so the
old one is refused from the commit on.  An agent's SIP password is rendered into the PJSIP
auth object and Asterisk reloads ``res_pjsip`` (the PBX sync of every provisioning change):
registrations and calls in progress stay; the next request with the old password gets 401.
If the reload fails the new password is still saved (and answered): the next sync or start
of Asterisk loads it, and ``pbx`` says what happened.

    POST /api/tenants/{tenant}/token                            -> {"tenant", "api_token"}
    POST /api/tenants/{tenant}/agents/{username}/phone_password -> {"agent", "phone_username",
                                                                     "phone_password", "pbx"}

Both take the admin token or the tenant's own (``403 wrong-tenant`` for another tenant's).
A browser agent's SIP password is replaced at every login: ``409 browser-phone``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.devices import BROWSER, new_sip_password
from ccari.errors import Conflict, NotFound
from ccari.provisioning.http import _scope
from ccari.provisioning.models import AuditEntry
from ccari.storage.models import Agent, Tenant
from ccari.web.security import hash_token, new_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhoneRotated:
    agent: str
    phone_username: str
    phone_password: str
    pbx: str  # what reached Asterisk (``Provisioning.reload_pbx``)


class Rotation:
    """``reload_pbx`` renders the database into Asterisk and reloads what changed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 reload_pbx: Callable[[], Awaitable[str]]) -> None:
        self._sessions = sessions
        self._reload_pbx = reload_pbx

    async def tenant_token(self, actor: str, tenant_id: int) -> str:
        """A new API token for the tenant; the old one stops working at the commit."""
        token = new_token()
        async with self._sessions() as s:
            t = await s.get(Tenant, tenant_id)
            if t is None:
                raise NotFound("no such tenant", error_id="tenant-not-found")
            t.api_token_hash = hash_token(token)
            _audit(s, actor, t, "tenant", t.slug, {"api_token": "rotated"})
            await s.commit()
        return token

    async def phone_password(self, actor: str, tenant_id: int, username: str) -> PhoneRotated:
        """A new SIP password for the agent's phone, saved, then loaded into Asterisk."""
        password = new_sip_password()
        async with self._sessions() as s:
            t = await s.get(Tenant, tenant_id)
            a = await s.scalar(select(Agent).where(Agent.tenant_id == tenant_id,
                                                   Agent.username == username))
            if t is None or a is None:
                raise NotFound(f"no agent {username!r}", error_id="agent-not-found")
            if a.device == BROWSER:
                raise Conflict("a browser phone gets a new SIP password at every login",
                               error_id="browser-phone")
            a.phone_password = password
            _audit(s, actor, t, "agent", a.username,
                   {"phone_username": a.phone_username, "phone_password": "rotated"})
            phone_username = a.phone_username
            await s.commit()
        return PhoneRotated(username, phone_username, password, await self._reload_pbx())


def _audit(s: AsyncSession, actor: str, t: Tenant, kind: str, key: str,
           what: dict[str, str]) -> None:
    s.add(AuditEntry(actor=actor, tenant_id=t.id, tenant=t.slug, kind=kind, key=key,
                     action="rotate", before=None, after=what))
    log.info("provisioning: %s rotated %s of %s %s/%s", actor, ", ".join(sorted(what)),
             kind, t.slug, key)


# ---- HTTP --------------------------------------------------------------------------------------
ROTATION: web.AppKey[Rotation] = web.AppKey("rotation", Rotation)
routes = web.RouteTableDef()


def internal_setup(service: Rotation) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[ROTATION] = service
        app.add_routes(routes)

    return setup


def _once(body: dict[str, str]) -> web.Response:
    """A secret shown this once: never kept by a cache."""
    resp = web.json_response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@routes.post("/api/tenants/{tenant}/token")
async def rotate_token(request: web.Request) -> web.Response:
    scope = await _scope(request)
    token = await request.app[ROTATION].tenant_token(scope.actor, scope.tenant_id)
    return _once({"tenant": scope.slug, "api_token": token})


@routes.post("/api/tenants/{tenant}/agents/{username}/phone_password")
async def rotate_phone_password(request: web.Request) -> web.Response:
    scope = await _scope(request)
    done = await request.app[ROTATION].phone_password(scope.actor, scope.tenant_id,
                                                      request.match_info["username"])
    return _once({"agent": done.agent, "phone_username": done.phone_username,
                  "phone_password": done.phone_password, "pbx": done.pbx})
