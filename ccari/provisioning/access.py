"""Who is asking, on the admin pages: the signed ``ccari_admin`` cookie set at
``/admin/login`` (the admin token: every tenant; a tenant's API token: that tenant only, and
only while that token is the tenant's), a form's CSRF token, and whether the session may act
on the path's tenant."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ccari import keys
from ccari.errors import Forbidden, NotFound, Unauthorized
from ccari.provisioning.http import PROVISIONING
from ccari.storage.models import Tenant
from ccari.web.bodies import read_form
from ccari.web.security import check_csrf, same_secret

COOKIE = "ccari_admin"


@dataclass(frozen=True)
class AdminSession:
    tenant_id: int | None  # None: the global admin
    csrf: str


def serializer(request: web.Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[keys.CONFIG].web.secret_key,
                                  salt="ccari-admin-session")


def token_mark(api_token_hash: str | None) -> str:
    """Ties a tenant's session to the API token it logged in with: rotating the token
    (``POST /api/tenants/{tenant}/token``) ends the sessions the old one opened."""
    return (api_token_hash or "")[:16]


async def admin_session(request: web.Request) -> AdminSession | None:
    """The admin's session as the cookie says (None: none, expired, forged or revoked)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        data = serializer(request).loads(
            cookie, max_age=request.app[keys.CONFIG].web.session_max_age_s)
        tenant = data["t"]
        sess = AdminSession(None if tenant is None else int(tenant), str(data["c"]))
        mark = str(data.get("k", ""))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None
    if sess.tenant_id is not None:
        async with request.app[keys.SESSIONS]() as s:
            t = await s.get(Tenant, sess.tenant_id)
        if t is None or not mark or not same_secret(token_mark(t.api_token_hash), mark):
            return None
    return sess


async def admin_form(request: web.Request) -> tuple[AdminSession, dict[str, str]]:
    """A logged-in admin's form, its CSRF token checked."""
    sess = await admin_session(request)
    if sess is None:
        raise Unauthorized("log in at /admin/login first", error_id="not-logged-in")
    form = {k: v for k, v in (await read_form(request)).items() if isinstance(v, str)}
    check_csrf(sess.csrf, form.pop("csrf", None))
    return sess, form


async def admin_tenant(request: web.Request, sess: AdminSession) -> tuple[int, str]:
    """The path's tenant, if this session may act on it."""
    slug = request.match_info["tenant"]
    try:
        tenant_id = await request.app[PROVISIONING].tenant_id(slug)
    except NotFound:
        if sess.tenant_id is not None:  # a tenant learns nothing of other tenants
            raise Forbidden("this login belongs to another tenant",
                            error_id="wrong-tenant") from None
        raise
    if sess.tenant_id is not None and sess.tenant_id != tenant_id:
        raise Forbidden("this login belongs to another tenant", error_id="wrong-tenant")
    return tenant_id, slug
