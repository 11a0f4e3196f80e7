"""The admin pages (internal listener): tenants, and per tenant its numbers (with their own
hours), queues, agents, skills, IVR menus, their prompts, business hours and the after-hours
route of numbers without their own, recording policy, blending,
wrap-up codes and audit log; the admin renames and deletes tenants here too.

Log in with the admin token (every tenant) or a tenant's API token (that tenant only): the
page sets a signed session cookie holding a CSRF token every form sends back.  Each form is
read into the API's JSON (:mod:`ccari.provisioning.forms`) and goes through the same parsers
and the same :class:`Provisioning` service as the REST API; what the model refuses is shown
beside the form with its stable error id.  Without a session a form is refused (``401
not-logged-in``), with a wrong CSRF token too (``403 csrf-failed``), and another tenant's
objects are refused as in the API (``403 wrong-tenant``, ``404 ...-not-found``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from ccari import keys
from ccari.errors import CcariError, Forbidden
from ccari.provisioning import codes, forms, routing
from ccari.provisioning import hours as hrs
from ccari.provisioning import schemas as sch
from ccari.provisioning.access import (
    COOKIE,
    AdminSession,
    admin_form,
    admin_session,
    admin_tenant,
    serializer,
    token_mark,
)
from ccari.provisioning.http import PROVISIONING
from ccari.provisioning.services import Provisioning
from ccari.recording import policy as recording_policy
from ccari.sites import schemas as site_schemas
from ccari.sites.http import SITES
from ccari.tenants import repo as tenants_repo
from ccari.web.bodies import read_form
from ccari.web.pages import render
from ccari.web.security import check_csrf, same_secret

routes = web.RouteTableDef()
LOGIN_CSRF = "ccari_admin_login_csrf"
TENANT = "/admin/tenants/{tenant}"


def internal_setup(app: web.Application) -> None:
    app.add_routes(routes)


# ---- login -----------------------------------------------------------------------------------
def _login_page(error: str | None = None, status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(16)
    resp = render("admin_login.html", status=status, csrf=token, error=error)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="Strict")
    return resp


@routes.get("/admin/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page()


@routes.post("/admin/login")
async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    check_csrf(request.cookies.get(LOGIN_CSRF), form.get("csrf"))
    token = str(form.get("token", ""))
    admin = request.app[keys.CONFIG].admin_token
    tenant_id: int | None
    mark = ""
    if admin and same_secret(admin, token):
        tenant_id = None
    else:
        async with request.app[keys.SESSIONS]() as s:
            tenant = await tenants_repo.by_token(s, token) if token else None
        if tenant is None:
            return _login_page("Unknown token.", status=401)
        tenant_id, mark = tenant.id, token_mark(tenant.api_token_hash)
    cookie = serializer(request).dumps({"t": tenant_id, "c": secrets.token_urlsafe(16),
                                         "k": mark})
    resp = web.HTTPSeeOther("/admin")
    resp.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict",
                    max_age=request.app[keys.CONFIG].web.session_max_age_s)
    resp.del_cookie(LOGIN_CSRF)
    raise resp


@routes.post("/admin/logout")
async def logout(request: web.Request) -> web.Response:
    await admin_form(request)
    resp = web.HTTPSeeOther("/admin/login")
    resp.del_cookie(COOKIE)
    raise resp


# ---- tenants ---------------------------------------------------------------------------------
@routes.get("/admin")
async def index(request: web.Request) -> web.Response:
    sess = await admin_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/admin/login")
    service = request.app[PROVISIONING]
    tenants = await service.tenants(sess.tenant_id)
    if sess.tenant_id is not None and tenants:
        raise web.HTTPSeeOther(f"/admin/tenants/{tenants[0]['slug']}")
    return render("admin_tenants.html", tenants=tenants, csrf=sess.csrf, form={}, error=None,
                  token=None)


@routes.post("/admin/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    sess, form = await admin_form(request)
    if sess.tenant_id is not None:
        raise Forbidden("only the admin may create tenants", error_id="admin-only")
    service = request.app[PROVISIONING]
    try:
        made, token = await service.create_tenant("admin", sch.tenant(forms.tenant(form)))
    except CcariError as exc:
        return render("admin_tenants.html", status=exc.status, tenants=await service.tenants(),
                      csrf=sess.csrf, form=form, error=exc, token=None)
    # The tenant's API token is shown this once.
    return render("admin_tenants.html", status=201, tenants=await service.tenants(),
                  csrf=sess.csrf, form={}, error=None, token={"slug": made["slug"], "value": token})


# ---- one tenant ------------------------------------------------------------------------------
async def render_tenant(request: web.Request, sess: AdminSession, tenant_id: int, slug: str, *,
                       section: str | None = None, form: Mapping[str, str] | None = None,
                       error: CcariError | None = None, status: int = 200) -> web.Response:
    service = request.app[PROVISIONING]
    doc = await service.tenant(slug)
    recording = await service.recording(tenant_id)
    blend = await service.blend_hold(tenant_id)
    own_codes = await service.dispositions(tenant_id)
    night = (await service.after_hours(tenant_id))["after_hours"]
    settings = {"after_hours": night,
        "recording": recording, "blend_hold_s": blend,
        "effective_blend_hold_s": request.app[keys.QUEUE].router.rules.hold_after
        if blend is None else blend,
        "codes": own_codes,
        "effective_codes": request.app[keys.CONFIG].voice.dispositions_of(slug, own_codes),
    }
    forms_now: dict[str, Mapping[str, str]] = {
        "hours": forms.hours_form(doc.get("hours")),
        "after_hours": forms.after_hours_form(night),
        "recording": forms.recording_form(recording),
        "blending": {"blend_hold_s": "" if blend is None else f"{blend:g}"},
        "codes": {"codes": "\n".join(own_codes or ())},
        "tenant": dict(doc["tenant"]),
    }
    edit = request.query.get("edit", "")
    kind, _, key = edit.partition(":")
    if kind == "number":
        forms_now["numbers"] = forms.number_form(await service.number(tenant_id, key))
    elif kind == "agent":
        forms_now["agent"] = {**forms.agent_form(await service.agent(tenant_id, key)),
                              "mode": "update"}
    elif kind == "menu":
        forms_now["menu"] = {**forms.menu_form(await service.menu(tenant_id, key)),
                             "mode": "update"}
    if section is not None and form is not None:
        forms_now[section] = form
    skills: dict[str, list[str]] = {}
    for a in doc["agents"]:
        for s in a["skills"]:
            skills.setdefault(f"{s['name']}={s['value']}", []).append(
                f"{a['username']} ({s['level']})")
    return render("admin_tenant.html", status=status, doc=doc, slug=slug, csrf=sess.csrf,
                  forms=forms_now, section=section, error=error, skills=sorted(skills.items()),
                  audit=await service.audit(tenant_id, 50), global_admin=sess.tenant_id is None,
                  sites=await request.app[SITES].sites(tenant_id),
                  media=forms.SLOT_MEDIA, dumps=json.dumps, settings=settings,
                  modes=recording_policy.MODES, prompts=await service.prompts(tenant_id),
                  prompt_voice=request.app[keys.CONFIG].prompts.voice)


@routes.get(TENANT)
async def tenant_page(request: web.Request) -> web.Response:
    sess = await admin_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/admin/login")
    tenant_id, slug = await admin_tenant(request, sess)
    return await render_tenant(request, sess, tenant_id, slug)


# A change through the service; a path to go to instead of the tenant's page (renamed, deleted).
Change = Callable[[web.Request, str, int, dict[str, str]], Awaitable[str | None]]


def form_change(section: str, change: Change, *,
            admin_only: bool = False) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A form handler: check the session, CSRF and tenant, apply ``change`` through the
    service, then back to the tenant's page (or the page with the error beside the form)."""

    async def handler(request: web.Request) -> web.Response:
        sess, form = await admin_form(request)
        tenant_id, slug = await admin_tenant(request, sess)
        if admin_only and sess.tenant_id is not None:
            raise Forbidden("only the admin may do this", error_id="admin-only")
        try:
            actor = "admin" if sess.tenant_id is None else f"tenant:{slug}"
            elsewhere = await change(request, actor, tenant_id, form)
        except CcariError as exc:
            if exc.status in (401, 403):
                raise
            return await render_tenant(request, sess, tenant_id, slug, section=section,
                                      form=form, error=exc, status=exc.status)
        raise web.HTTPSeeOther(elsewhere or f"/admin/tenants/{slug}#{section}")

    return handler


def _svc(request: web.Request) -> Provisioning:
    return request.app[PROVISIONING]


async def _save_number(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    spec = sch.number(forms.number(form))
    numbers = {n["did"] for n in await _svc(request).numbers(tenant_id)}
    if spec.did in numbers:
        await _svc(request).update_number(actor, tenant_id, spec.did, spec)
    else:
        await _svc(request).create_number(actor, tenant_id, spec)


async def _save_queue(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).put_queue(actor, tenant_id, sch.queue(forms.queue(form)))


async def _save_agent(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    update = form.get("mode") == "update"
    spec = sch.agent(forms.agent(form), new=not update)
    if update:
        await _svc(request).update_agent(actor, tenant_id, spec.username, spec)
    else:
        await _svc(request).create_agent(actor, tenant_id, spec)


async def _save_menu(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).put_menu(actor, tenant_id, sch.menu(forms.menu(form)),
                                 create=form.get("mode") != "update")


async def _save_hours(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).put_hours(actor, tenant_id, hrs.calendar(forms.hours(form), ""))


async def _save_after_hours(request: web.Request, actor: str, tenant_id: int,
                           form: dict[str, str]) -> None:
    night = forms.after_hours(form)  # none: back to the announcement
    await _svc(request).put_after_hours(actor, tenant_id,
                                        hrs.after_hours(night) if night is not None else None)


async def _save_site(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    kbps = form.get("wan_kbps", "").strip()
    body = {"wan_kbps": int(kbps) if kbps.isdigit() else (kbps or None)}
    await request.app[SITES].set_capacity(tenant_id, site_schemas.site_name(form.get("name", "")),
                                          site_schemas.capacity(body), actor)


async def _delete_number(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).delete_number(actor, tenant_id, request.match_info["did"])


async def _delete_agent(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).delete_agent(actor, tenant_id, request.match_info["username"])


async def _delete_menu(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).delete_menu(actor, tenant_id, request.match_info["name"])


async def _delete_hours(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await _svc(request).put_hours(actor, tenant_id, None)


async def _save_recording(request: web.Request, actor: str, tenant_id: int,
                          form: dict[str, str]) -> None:
    await _svc(request).put_recording(actor, tenant_id, forms.recording(form))


async def _save_blending(request: web.Request, actor: str, tenant_id: int,
                         form: dict[str, str]) -> None:
    seconds = routing.hold(forms.blending(form))
    await _svc(request).put_blend_hold(actor, tenant_id, seconds)
    await request.app[keys.QUEUE].set_blend_hold(tenant_id, seconds)


async def _save_codes(request: web.Request, actor: str, tenant_id: int,
                      form: dict[str, str]) -> None:
    await _svc(request).put_dispositions(actor, tenant_id, codes.codes(forms.codes(form)))


async def _rename_tenant(request: web.Request, actor: str, tenant_id: int,
                         form: dict[str, str]) -> str:
    made, _ = await _svc(request).rename_tenant(actor, request.match_info["tenant"],
                                                sch.tenant(forms.tenant(form)))
    return f"/admin/tenants/{made['slug']}"


async def _delete_tenant(request: web.Request, actor: str, tenant_id: int,
                         form: dict[str, str]) -> str:
    await _svc(request).delete_tenant(actor, request.match_info["tenant"])
    return "/admin"


routes.post(TENANT + "/rename")(form_change("tenant", _rename_tenant, admin_only=True))
routes.post(TENANT + "/delete")(form_change("tenant", _delete_tenant, admin_only=True))
routes.post(TENANT + "/recording")(form_change("recording", _save_recording))
routes.post(TENANT + "/blending")(form_change("blending", _save_blending))
routes.post(TENANT + "/dispositions")(form_change("codes", _save_codes))
routes.post(TENANT + "/numbers")(form_change("numbers", _save_number, admin_only=True))
routes.post(TENANT + "/numbers/{did}/delete")(form_change("numbers", _delete_number, admin_only=True))
routes.post(TENANT + "/queues")(form_change("queues", _save_queue))
routes.post(TENANT + "/agents")(form_change("agents", _save_agent))
routes.post(TENANT + "/agents/{username}/delete")(form_change("agents", _delete_agent))
routes.post(TENANT + "/menus")(form_change("menus", _save_menu))
routes.post(TENANT + "/menus/{name}/delete")(form_change("menus", _delete_menu))
routes.post(TENANT + "/hours")(form_change("hours", _save_hours))
routes.post(TENANT + "/after-hours")(form_change("after_hours", _save_after_hours))
routes.post(TENANT + "/sites")(form_change("sites", _save_site))
routes.post(TENANT + "/hours/delete")(form_change("hours", _delete_hours))
