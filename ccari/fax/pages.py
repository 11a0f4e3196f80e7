"""The fax list pages (internal listener): a tenant's faxes, received and sent, newest first,
filtered and paged on the server (:mod:`ccari.fax.listing` reads the query,
:mod:`ccari.fax.repo` finds the page).

* ``GET /supervisor/faxes``: for the tenant's supervisors (agent session, role supervisor;
  without a session the login page, another agent 403 ``supervisors-only``), each received
  fax linked to its contact's page;
* ``GET /supervisor/faxes/{id}/pdf`` and ``/supervisor/faxes/outbound/{id}/pdf``: a received
  fax's PDF and a sent one's document (401 ``login-required`` without a session);
* ``GET /admin/tenants/{tenant}/faxes`` and its ``/{id}/pdf``, ``/outbound/{id}/pdf``: the
  same for the admin pages' session (the admin token: every tenant; a tenant's token: its own,
  403 ``wrong-tenant`` for another; without a session the login page).

A fax of another tenant, or none, is 404 ``fax-not-found``.  A filter the page does not know
shows the page again with its stable error id (400).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ccari import keys
from ccari.agents.access import signed_in, supervisor_of
from ccari.errors import BadRequest
from ccari.fax import listing, repo
from ccari.fax.http import document
from ccari.provisioning.access import admin_session, admin_tenant
from ccari.storage.models import Tenant
from ccari.web.pages import render

PAGE = "/supervisor/faxes"
ADMIN_PAGE = "/admin/tenants/{tenant}/faxes"


def internal_setup(app: web.Application) -> None:
    """After :func:`ccari.fax.http.internal_setup` (its service and sender)."""
    app.router.add_get(PAGE, supervisor_page)
    app.router.add_get(PAGE + "/{id}/pdf", supervisor_pdf)
    app.router.add_get(PAGE + "/outbound/{id}/pdf", supervisor_sent_pdf)
    app.router.add_get(ADMIN_PAGE, admin_page)
    app.router.add_get(ADMIN_PAGE + "/{id}/pdf", admin_pdf)
    app.router.add_get(ADMIN_PAGE + "/outbound/{id}/pdf", admin_sent_pdf)


async def _list(request: web.Request, tenant: Tenant, template: str,
                **context: Any) -> web.Response:
    """The list on ``template`` (``tenant`` and ``context`` are the page's)."""
    tz = listing.zone(tenant.hours)
    common = {"zone": tz.key, "directions": listing.DIRECTIONS, "statuses": listing.STATUSES,
              "sizes": listing.SIZES, "default_size": listing.DEFAULT_SIZE, "tenant": tenant,
              **context}
    try:
        filters = listing.parse(request.query, tz)
    except BadRequest as exc:
        return render(template, status=exc.status, error=exc, page=None,
                      form=listing.echo(request.query), **common)
    async with request.app[keys.SESSIONS]() as s:
        found = await repo.listing(s, tenant.id, filters)
    return render(template, error=None, page=listing.page(found, filters, tz), form=filters.form,
                  **common)


# ---- supervisors -----------------------------------------------------------------------------
async def supervisor_page(request: web.Request) -> web.Response:
    if await signed_in(request) is None:
        raise web.HTTPSeeOther("/agent/login")
    _, agent, tenant = await supervisor_of(request)
    return await _list(request, tenant, "faxes.html", agent=agent, base=PAGE,
                       contact_links=True)


async def supervisor_pdf(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    return await document(request, tenant.id, sent=False)


async def supervisor_sent_pdf(request: web.Request) -> web.Response:
    _, _, tenant = await supervisor_of(request)
    return await document(request, tenant.id, sent=True)


# ---- the admin pages -------------------------------------------------------------------------
async def _admin(request: web.Request) -> tuple[str, int, str]:
    """The session's form token and the path's tenant, if the session may see it."""
    sess = await admin_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/admin/login")
    tenant_id, slug = await admin_tenant(request, sess)
    return sess.csrf, tenant_id, slug


async def admin_page(request: web.Request) -> web.Response:
    csrf, tenant_id, slug = await _admin(request)
    async with request.app[keys.SESSIONS]() as s:
        tenant = await s.get(Tenant, tenant_id)
    if tenant is None:  # deleted meanwhile
        raise web.HTTPSeeOther("/admin")
    return await _list(request, tenant, "admin_faxes.html", slug=slug, csrf=csrf,
                       base=f"/admin/tenants/{slug}/faxes", contact_links=False)


async def admin_pdf(request: web.Request) -> web.Response:
    _, tenant_id, _ = await _admin(request)
    return await document(request, tenant_id, sent=False)


async def admin_sent_pdf(request: web.Request) -> web.Response:
    _, tenant_id, _ = await _admin(request)
    return await document(request, tenant_id, sent=True)
