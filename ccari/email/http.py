"""HTTP side of the email context.

Public listener (customers, the widget):
    POST /v1/email  {from_address, subject, body, page_url}  -> 201 {id, anticipated_response_s}
        customer token (``Authorization: Bearer``), tenant Origin check, rate limits per
        session and per client address; ``Idempotency-Key`` makes a retried POST a no-op.

Internal listener (tenant admins, bearer token):
    GET /api/email/mailboxes              the tenant's mailboxes with their routing rules
    PUT /api/email/mailboxes/{address}    create or change one (rules validated first)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.email import headers as hdr
from ccari.email import repo
from ccari.email.limits import RateLimit
from ccari.email.models import Mailbox
from ccari.email.rules import RuleError, Table
from ccari.email.services import EmailService
from ccari.errors import BadRequest, Conflict, TooManyRequests
from ccari.public.origins import cors
from ccari.web.bodies import json_object

log = logging.getLogger(__name__)
MAX_SUBJECT, MAX_BODY, MAX_URL = 200, 20_000, 2000


@dataclass(frozen=True)
class PublicLimits:
    per_session: RateLimit
    per_address: RateLimit

    @classmethod
    def default(cls) -> PublicLimits:
        return cls(RateLimit(5, 600.0), RateLimit(30, 600.0))


SERVICE: web.AppKey[EmailService] = web.AppKey("email_service", EmailService)
LIMITS: web.AppKey[PublicLimits] = web.AppKey("email_limits", PublicLimits)


def public_setup(service: EmailService, limits: PublicLimits) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app[LIMITS] = limits
        app.router.add_post("/v1/email", post_email)
        app.router.add_route("OPTIONS", "/v1/email", preflight)

    return setup


def internal_setup() -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app.router.add_get("/api/email/mailboxes", list_mailboxes)
        app.router.add_put("/api/email/mailboxes/{address}", put_mailbox)

    return setup


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise BadRequest(f"{name}: text of 1-{limit} characters", error_id=f"bad-{name.replace('_', '-')}")
    return value.strip()


async def preflight(request: web.Request) -> web.Response:
    # Grants nothing by itself: the POST checks the Origin against the token's tenant.
    resp = web.Response(status=204)
    cors(resp, request.headers.get("Origin"))
    resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Idempotency-Key"
    resp.headers["Access-Control-Max-Age"] = "600"
    return resp


async def post_email(request: web.Request) -> web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    sess = request.app[keys.TOKENS].verify(token if scheme.lower() == "bearer" else None)
    origin = await request.app[keys.ORIGINS].check(request, sess.tenant_id)
    limits = request.app[LIMITS]
    for limit, key in ((limits.per_session, sess.session_id),
                       (limits.per_address, request.remote or "unknown")):
        if not limit.allow(key):
            raise TooManyRequests(f"too many requests; try again in {limit.retry_after(key):.0f} s",
                                  error_id="rate-limited")
    data = await json_object(request)
    address = hdr.valid_address(data.get("from_address") if isinstance(data.get("from_address"), str)
                                else None)
    if address is None:
        raise BadRequest("from_address: a valid email address", error_id="bad-from-address")
    subject = " ".join(_text(data, "subject", MAX_SUBJECT, required=False).split()) or "Help request"
    body = _text(data, "body", MAX_BODY)
    page_url = data.get("page_url") or None
    if page_url is not None and (not isinstance(page_url, str) or len(page_url) > MAX_URL
                                 or not page_url.startswith(("http://", "https://"))):
        raise BadRequest("page_url: an http(s) URL", error_id="bad-page-url")
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not 1 <= len(idem) <= 200:
        raise BadRequest("Idempotency-Key: 1-200 characters", error_id="bad-idempotency-key")
    arrival, wait = await request.app[SERVICE].web_request(
        sess.tenant_id, sess.session_id, from_address=address, subject=subject, body=body,
        page_url=page_url, idempotency_key=idem)
    resp = web.json_response({"id": arrival.contact_id, "anticipated_response_s": round(wait)},
                             status=201)
    cors(resp, origin)
    return resp


def _mailbox(box: Mailbox) -> dict[str, Any]:
    return {"address": box.address, "display_name": box.display_name, "attributes": box.attributes,
            "rules": box.rules, "auto_ack": box.auto_ack, "response_target_s": box.response_target_s}


async def list_mailboxes(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    async with request.app[keys.SESSIONS]() as s:
        boxes = await repo.mailboxes(s, tenant_id)
    return web.json_response({"mailboxes": [_mailbox(b) for b in boxes]})


async def put_mailbox(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    address = hdr.valid_address(request.match_info["address"])
    if address is None:
        raise BadRequest("not an email address", error_id="bad-address")
    address = address.lower()
    data = await json_object(request)
    try:
        Table.of(data.get("attributes", {}), data.get("rules", []))
    except RuleError as exc:
        raise BadRequest(str(exc), error_id="bad-rules") from None
    auto_ack = data.get("auto_ack", True)
    target = data.get("response_target_s", 4 * 3600)
    if not isinstance(auto_ack, bool) or not isinstance(target, int | float) or not 0 <= target <= 30 * 86400:
        raise BadRequest("auto_ack: boolean; response_target_s: 0-2592000", error_id="bad-mailbox")
    name = _text(data, "display_name", 200, required=False)
    async with request.app[keys.SESSIONS]() as s:
        box = await repo.mailbox_by_address(s, address)
        if box is not None and box.tenant_id != tenant_id:
            raise Conflict("this address belongs to another tenant", error_id="address-taken")
        created = box is None
        if box is None:
            box = Mailbox(tenant_id=tenant_id, address=address)
            s.add(box)
        box.display_name, box.attributes, box.rules = name, data.get("attributes", {}), data.get("rules", [])
        box.auto_ack, box.response_target_s = auto_ack, float(target)
        try:
            await s.commit()
        except IntegrityError:
            raise Conflict("this address belongs to another tenant", error_id="address-taken") from None
    log.info("tenant %s: mailbox %s %s", tenant_id, address, "created" if created else "updated")
    return web.json_response(_mailbox(box), status=201 if created else 200)
