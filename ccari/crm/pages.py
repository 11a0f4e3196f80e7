"""The admin pages of a tenant's customers (internal listener), beside the tenant's page:
search, add or change one, delete, import a CSV and export them all.

The same session and CSRF token as every admin page (:mod:`ccari.provisioning.pages`); each
form is read into the API's JSON and goes through the same parser and :class:`Customers`
service as the REST API (same checks, same audit log).  What the model refuses is shown
beside the form with its stable error id; an import refused shows every bad row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from ccari import keys
from ccari.crm import schemas
from ccari.crm.csvcodec import RowError
from ccari.crm.http import CUSTOMERS, TooLarge
from ccari.crm.services import ImportRefused
from ccari.errors import BadRequest, CcariError, NotFound, Unauthorized
from ccari.provisioning.access import AdminSession, admin_form, admin_session, admin_tenant
from ccari.web.pages import render
from ccari.web.security import check_csrf

routes = web.RouteTableDef()
PAGE = "/admin/tenants/{tenant}/customers"
PAGE_SIZE = 50


def internal_setup(app: web.Application) -> None:
    app.add_routes(routes)


def to_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The form as the API's JSON: phones one a line (or split by , or ;), entitlements
    ``service:level`` one a line."""
    ents = []
    for line in (x.strip() for x in form.get("entitlements", "").splitlines()):
        if line:
            service, _, level = line.partition(":")
            ents.append({"service": service, "level": level})
    return {"name": form.get("name", ""), "email": form.get("email", "").strip() or None,
            "phones": [p for p in re.split(r"[\n,;]+", form.get("phones", "")) if p.strip()],
            "entitlements": ents}


def to_form(customer: Mapping[str, Any]) -> dict[str, str]:
    return {"id": str(customer["id"]), "name": customer["name"], "email": customer["email"] or "",
            "phones": "\n".join("+" + p for p in customer["phones"]),
            "entitlements": "\n".join(f"{e['service']}:{e['level']}"
                                      for e in customer["entitlements"])}


MAX_ID = 2**63 - 1  # the largest integer the database stores


async def _page(request: web.Request, sess: AdminSession, tenant_id: int, slug: str, *,
                section: str | None = None, form: Mapping[str, str] | None = None,
                error: CcariError | None = None, status: int = 200) -> web.Response:
    service = request.app[CUSTOMERS]
    q = request.query.get("q", "")[:200]
    try:
        offset = min(max(0, int(request.query.get("offset", "0"))), MAX_ID)
    except ValueError:
        offset = 0
    found = await service.search(tenant_id, q, PAGE_SIZE, offset)
    edit = request.query.get("edit", "")
    if form is None and edit.isdecimal() and int(edit) <= MAX_ID:
        form = to_form(await service.get(tenant_id, int(edit)))
        section = "customer"
    rows = error.errors if isinstance(error, ImportRefused) else []
    done = {k: request.query[k] for k in ("created", "updated")
            if request.query.get(k, "").isdigit()}
    return render("admin_customers.html", status=status, slug=slug, csrf=sess.csrf, q=q,
                  found=found, offset=offset, page_size=PAGE_SIZE, section=section,
                  form=form or {}, error=error, rows=rows, done=done)


async def _logged_in(request: web.Request) -> tuple[AdminSession, int, str]:
    sess = await admin_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/admin/login")
    tenant_id, slug = await admin_tenant(request, sess)
    return sess, tenant_id, slug


def _actor(sess: AdminSession, slug: str) -> str:
    return "admin" if sess.tenant_id is None else f"tenant:{slug}"


@routes.get(PAGE)
async def customers_page(request: web.Request) -> web.Response:
    sess, tenant_id, slug = await _logged_in(request)
    return await _page(request, sess, tenant_id, slug)


@routes.get(PAGE + ".csv")
async def export_csv(request: web.Request) -> web.Response:
    _, tenant_id, _ = await _logged_in(request)
    text = await request.app[CUSTOMERS].export(tenant_id)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="customers.csv"'})


@routes.post(PAGE)
async def save_customer(request: web.Request) -> web.Response:
    sess, form = await admin_form(request)
    tenant_id, slug = await admin_tenant(request, sess)
    service, actor = request.app[CUSTOMERS], _actor(sess, slug)
    try:
        known = form.get("id", "").isdecimal()
        if known:  # another tenant's: 404 whatever the form says
            await service.get(tenant_id, int(form["id"]))
        spec = schemas.customer(to_body(form))
        if known:
            await service.update(actor, tenant_id, int(form["id"]), spec)
        else:
            await service.create(actor, tenant_id, spec)
    except CcariError as exc:
        return await _page(request, sess, tenant_id, slug, section="customer", form=form,
                           error=exc, status=exc.status)
    raise web.HTTPSeeOther(f"/admin/tenants/{slug}/customers")


@routes.post(PAGE + "/{id}/delete")
async def delete_customer(request: web.Request) -> web.Response:
    sess, _ = await admin_form(request)
    tenant_id, slug = await admin_tenant(request, sess)
    raw = request.match_info["id"]
    if not raw.isdecimal() or len(raw) > 18:
        raise NotFound(f"no customer {raw}", error_id="customer-not-found")
    await request.app[CUSTOMERS].delete(_actor(sess, slug), tenant_id, int(raw))
    raise web.HTTPSeeOther(f"/admin/tenants/{slug}/customers")


@routes.post(PAGE + "/import")
async def import_csv(request: web.Request) -> web.Response:
    """A multipart form: the CSRF token, then the file (read up to crm.import_max_bytes)."""
    sess = await admin_session(request)
    if sess is None:
        raise Unauthorized("log in at /admin/login first", error_id="not-logged-in")
    tenant_id, slug = await admin_tenant(request, sess)
    limit = request.app[keys.CONFIG].crm.import_max_bytes
    csrf, data = None, bytearray()
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send the form as multipart/form-data", error_id="bad-form")
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "csrf":
                csrf = (await part.read(decode=True)).decode("utf-8", "replace")
            elif part.name == "file":
                while len(data) <= limit and (chunk := await part.read_chunk()):
                    data += chunk
    except (BadHttpMessage, ValueError, AssertionError):  # no boundary, cut short, bad headers
        raise BadRequest("the form is not valid multipart/form-data", error_id="bad-form") from None
    check_csrf(sess.csrf, csrf)
    try:
        if len(data) > limit:
            raise TooLarge(f"a CSV of customers is at most {limit} bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise ImportRefused([RowError(0, "bad-encoding", "the CSV must be UTF-8")]) from None
        counts = await request.app[CUSTOMERS].import_csv(_actor(sess, slug), tenant_id, text)
    except CcariError as exc:
        return await _page(request, sess, tenant_id, slug, section="import", error=exc,
                           status=exc.status)
    raise web.HTTPSeeOther(f"/admin/tenants/{slug}/customers?created={counts['created']}"
                           f"&updated={counts['updated']}")
