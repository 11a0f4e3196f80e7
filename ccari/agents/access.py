"""Who is asking, on the internal listener's agent and supervisor pages and their APIs: the
signed ``ccari_agent`` cookie (set at ``/agent/login``) read back into the agent and her
tenant, the supervisor's role checked, and a request's CSRF header against the session's.

A cookie is good until its age limit only while the agent's ``session_epoch`` is the one
it was issued in: her logout (or a new password) ends it, and any copy of it."""

from __future__ import annotations

from aiohttp import web

from ccari import keys
from ccari.agents import repo
from ccari.errors import Forbidden, Unauthorized
from ccari.storage.models import Agent, Contact, Tenant
from ccari.web.security import AgentSession, check_csrf

COOKIE = "ccari_agent"
SignedIn = tuple[AgentSession, Agent, Tenant]


def session_of(request: web.Request) -> AgentSession | None:
    """The agent's session as her cookie says (None: none, expired or forged)."""
    cookie = request.cookies.get(COOKIE)
    return request.app[keys.SIGNER].load(cookie) if cookie else None


async def signed_in(request: web.Request) -> SignedIn | None:
    """The logged-in agent (a supervisor is one too), or None."""
    sess = session_of(request)
    if sess is None:
        return None
    async with request.app[keys.SESSIONS]() as s:
        agent = await repo.get(s, sess.tenant_id, sess.agent_id)
        tenant = await s.get(Tenant, sess.tenant_id)
    if agent is None or tenant is None or agent.session_epoch != sess.epoch:
        return None
    return sess, agent, tenant


async def agent_of(request: web.Request) -> SignedIn:
    """The logged-in agent (401 ``login-required``): every agent page's API and websocket."""
    found = await signed_in(request)
    if found is None:
        raise Unauthorized("log in first", error_id="login-required")
    return found


async def supervisor_of(request: web.Request) -> SignedIn:
    """The logged-in supervisor (401 ``login-required``; 403 ``supervisors-only``)."""
    found = await agent_of(request)
    if found[1].role != "supervisor":
        raise Forbidden("supervisors only", error_id="supervisors-only")
    return found


def check_csrf_header(request: web.Request, sess: AgentSession) -> None:
    """A page's write: its ``X-CSRF-Token`` header is the session's (403 ``csrf-failed``)."""
    check_csrf(sess.csrf, request.headers.get("X-CSRF-Token"))


async def in_hand(request: web.Request, agent: Agent, contact_id: str, medium: str) -> Contact | None:
    """The contact of ``medium`` offered to ``agent`` or connected to her (None: another
    tenant's, another agent's, another medium's, not in her hands (any more) or none)."""
    async with request.app[keys.SESSIONS]() as s:
        contact = await s.get(Contact, contact_id)
    if (contact is None or contact.tenant_id != agent.tenant_id or contact.medium != medium
            or contact.agent_id != agent.id or contact.state not in ("offered", "connected")):
        return None
    return contact
