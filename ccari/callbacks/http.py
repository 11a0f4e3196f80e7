"""Callback endpoints.

Public listener (customer session token, the tenant's allowed Origins, CORS)::

    POST   /v1/callbacks       {phone, when: "now" | ISO 8601, page_url?, skill?}
                               -> 201 {id, status, not_before, window_end, anticipated_wait_s}
                               (Idempotency-Key: a retried request gets 200 and the same id)
    GET    /v1/callbacks/{id}  -> its status (only the session that asked for it)
    DELETE /v1/callbacks/{id}  -> 204 (only the session that asked for it)

``"now"`` is click-to-call: the customer's phone rings first, whatever the tenant's mode.
Refusals: 422 ``invalid-number``, 403 ``number-not-allowed``, 429 ``rate-limited``, 409
``callback-exists``, 400 ``bad-time`` / ``bad-page-url`` / ``bad-skill`` / ``unknown-skill``.

Internal listener (tenant bearer token; ``?tenant=`` with the admin token)::

    GET  /api/callbacks[?status=pending,queued]     POST /api/callbacks {phone, when, skill?}
    GET  /api/callbacks/{id} (with its attempts)    POST /api/callbacks/{id}/reschedule {when}
    DELETE /api/callbacks/{id}                      GET|PUT /api/callbacks/settings
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ccari import keys
from ccari.admin.auth import tenant_scope
from ccari.callbacks import guard, repo
from ccari.callbacks.models import MODES, STATUSES, Callback, CallbackAttempt, CallbackSettings
from ccari.callbacks.services import CallbackService
from ccari.errors import BadRequest
from ccari.public.origins import cors
from ccari.public.tokens import CustomerSession
from ccari.web.bodies import json_object

SERVICE: web.AppKey[CallbackService] = web.AppKey("callbacks")
_SKILL = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


# ---- parsing ---------------------------------------------------------------------------------
def parse_when(value: Any, now: dt.datetime) -> dt.datetime | None:
    """``"now"`` (None) or an ISO 8601 time with its zone, not in the past."""
    if value is None or value == "now":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest('when must be "now" or an ISO 8601 time', error_id="bad-time")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest('when must be "now" or an ISO 8601 time', error_id="bad-time") from None
    if when.tzinfo is None:
        raise BadRequest("give the time with its zone (e.g. 2026-01-01T09:00:00+01:00)",
                         error_id="bad-time")
    if when < now - dt.timedelta(minutes=2):
        raise BadRequest("that time is in the past", error_id="bad-time")
    return when.astimezone(dt.UTC)


def _request_fields(body: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    phone = body.get("phone")
    if not isinstance(phone, str):
        raise guard.InvalidNumber("phone is required, in international format")
    page_url = body.get("page_url")
    if page_url is not None:
        parts = urlsplit(page_url) if isinstance(page_url, str) and len(page_url) <= 2048 else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequest("page_url must be an http(s) URL", error_id="bad-page-url")
    skill = body.get("skill")
    attrs: dict[str, Any] = {}
    if skill is not None:
        if not isinstance(skill, str) or not _SKILL.match(skill):
            raise BadRequest("skill must be a short name", error_id="bad-skill")
        attrs["skill"] = skill
    return phone, page_url, attrs


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def public_view(cb: Callback, now: dt.datetime) -> dict[str, Any]:
    """What the customer may see of their callback (not who handles it, not the notes)."""
    wait = max(0.0, ((cb.next_attempt_at or now) - now).total_seconds())
    return {"id": cb.id, "status": cb.status, "not_before": _iso(cb.not_before),
            "window_end": _iso(cb.window_end), "next_attempt_at": _iso(cb.next_attempt_at),
            "tries": cb.tries, "anticipated_wait_s": round(wait)}


def internal_view(cb: Callback, attempts: list[CallbackAttempt] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": cb.id, "contact_id": cb.contact_id, "phone": cb.phone, "source": cb.source,
        "mode": cb.mode, "status": cb.status, "place_at": _iso(cb.place_at),
        "not_before": _iso(cb.not_before), "window_end": _iso(cb.window_end),
        "next_attempt_at": _iso(cb.next_attempt_at), "tries": cb.tries, "max_tries": cb.max_tries,
        "last_result": cb.last_result, "page_url": cb.page_url, "created_at": _iso(cb.created_at),
        "ended_at": _iso(cb.ended_at),
    }
    if attempts is not None:
        data["attempts"] = [{"id": a.id, "n": a.n, "started_at": _iso(a.started_at),
                             "answered_at": _iso(a.answered_at), "ended_at": _iso(a.ended_at),
                             "result": a.result, "cause": a.cause} for a in attempts]
    return data


def settings_view(row: CallbackSettings) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("mode", "max_tries", "retry_after_s", "retry_factor",
                                         "retry_max_s", "window_s", "ring_timeout_s", "allow",
                                         "deny", "caller_id", "after_lost_call")}


# ---- public ----------------------------------------------------------------------------------
async def _customer(request: web.Request) -> tuple[CustomerSession, str | None]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    sess = request.app[keys.TOKENS].verify(token if scheme.lower() == "bearer" else None)
    origin = await request.app[keys.ORIGINS].check(request, sess.tenant_id)
    return sess, origin


async def preflight(request: web.Request) -> web.StreamResponse:
    # The real request is checked against its tenant's origins; this only names the methods.
    return cors(web.Response(status=204), request.headers.get("Origin"))


async def create(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    service.check_ip(request.remote)  # before anything else: counts refused requests too
    sess, origin = await _customer(request)
    body = await json_object(request)
    phone, page_url, attrs = _request_fields(body)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.match(key):
        raise BadRequest("Idempotency-Key must be a short token", error_id="bad-idempotency-key")
    when = parse_when(body.get("when", "now"), service.now())
    cb, created = await service.request(
        sess.tenant_id, phone=phone, when=when, source="web", page_url=page_url, attributes=attrs,
        session_id=sess.session_id, request_key=key, customer_first=when is None)
    resp = web.json_response(public_view(cb, service.now()), status=201 if created else 200,
                             headers={"Location": f"/v1/callbacks/{cb.id}"})
    return cors(resp, origin)


async def status(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    sess, origin = await _customer(request)
    cb = await service.status(sess.tenant_id, request.match_info["id"], session_id=sess.session_id)
    return cors(web.json_response(public_view(cb, service.now())), origin)


async def cancel(request: web.Request) -> web.StreamResponse:
    sess, origin = await _customer(request)
    await request.app[SERVICE].cancel(sess.tenant_id, request.match_info["id"],
                                      session_id=sess.session_id, by="customer")
    return cors(web.Response(status=204), origin)


def public_setup(service: CallbackService) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app.router.add_route("OPTIONS", "/v1/callbacks", preflight)
        app.router.add_post("/v1/callbacks", create)
        app.router.add_route("OPTIONS", "/v1/callbacks/{id}", preflight)
        app.router.add_get("/v1/callbacks/{id}", status)
        app.router.add_delete("/v1/callbacks/{id}", cancel)

    return setup


# ---- internal --------------------------------------------------------------------------------
async def api_list(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    wanted = [s for s in request.query.get("status", "").split(",") if s]
    if any(s not in STATUSES for s in wanted):
        raise BadRequest(f"status is one of {', '.join(STATUSES)}", error_id="bad-status")
    rows = await request.app[SERVICE].of_tenant(tenant_id, wanted or None)
    return web.json_response({"callbacks": [internal_view(cb) for cb in rows]})


async def api_create(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    service = request.app[SERVICE]
    body = await json_object(request)
    phone, page_url, attrs = _request_fields(body)
    cb, _ = await service.request(tenant_id, phone=phone, when=parse_when(body.get("when"), service.now()),
                                  source="api", page_url=page_url, attributes=attrs)
    return web.json_response(internal_view(cb), status=201)


async def api_get(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    service = request.app[SERVICE]
    cb = await service.status(tenant_id, request.match_info["id"])
    async with request.app[keys.SESSIONS]() as s:
        attempts = await repo.attempts(s, cb.id)
    return web.json_response(internal_view(cb, attempts))


async def api_reschedule(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    service = request.app[SERVICE]
    when = parse_when((await json_object(request)).get("when"), service.now()) or service.now()
    cb = await service.reschedule(tenant_id, request.match_info["id"], when)
    return web.json_response(internal_view(cb))


async def api_cancel(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    await request.app[SERVICE].cancel(tenant_id, request.match_info["id"], by="supervisor")
    return web.Response(status=204)


async def api_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    return web.json_response(settings_view(await request.app[SERVICE].settings(tenant_id)))


_NUMERIC = {"max_tries": (int, 1, 10), "retry_after_s": (float, 5.0, 86400.0),
            "retry_factor": (float, 1.0, 10.0), "retry_max_s": (float, 5.0, 86400.0),
            "window_s": (float, 60.0, 14 * 86400.0), "ring_timeout_s": (int, 5, 120)}


def _settings_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "mode":
            if value not in MODES:
                raise BadRequest(f"mode is one of {', '.join(MODES)}", error_id="bad-mode")
            changes[key] = value
        elif key in _NUMERIC:
            kind, low, high = _NUMERIC[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise BadRequest(f"{key} must be a number from {low} to {high}",
                                 error_id=f"bad-{key.replace('_', '-')}")
            changes[key] = kind(value)
        elif key in ("allow", "deny"):
            if not isinstance(value, list) or len(value) > 200 or not all(isinstance(v, str) for v in value):
                raise BadRequest(f"{key} is a list of region codes or +prefixes", error_id=f"bad-{key}")
            try:
                changes[key] = [guard.validate_entry(v) for v in value]
            except ValueError as exc:
                raise BadRequest(str(exc), error_id=f"bad-{key}") from None
        elif key == "after_lost_call":
            if not isinstance(value, bool):
                raise BadRequest("after_lost_call is true or false", error_id="bad-after-lost-call")
            changes[key] = value
        elif key == "caller_id":
            if not isinstance(value, str) or not re.match(r"^[0-9]{0,20}$", value):
                raise BadRequest("caller_id is E.164 digits", error_id="bad-caller-id")
            changes[key] = value
        else:
            raise BadRequest(f"unknown setting {key!r}", error_id="bad-setting")
    return changes


async def api_set_settings(request: web.Request) -> web.Response:
    tenant_id = await tenant_scope(request)
    changes = _settings_changes(await json_object(request))
    return web.json_response(settings_view(await request.app[SERVICE].set_settings(tenant_id, changes)))


def internal_setup(service: CallbackService) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        app.router.add_get("/api/callbacks/settings", api_settings)
        app.router.add_put("/api/callbacks/settings", api_set_settings)
        app.router.add_get("/api/callbacks", api_list)
        app.router.add_post("/api/callbacks", api_create)
        app.router.add_get("/api/callbacks/{id}", api_get)
        app.router.add_post("/api/callbacks/{id}/reschedule", api_reschedule)
        app.router.add_delete("/api/callbacks/{id}", api_cancel)

    return setup
