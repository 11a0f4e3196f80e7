"""Toll fraud through every way out, on the real Asterisk: click-to-call, the callbacks API,
the IVR's "call me back", a blind transfer and a consult to a number (while alice is on a
real call) and fax sending.  Premium and revenue-share ranges, unallowed countries,
dialplan metacharacters and bursts are refused with their stable error before anything
reaches Asterisk (the customer's phone behind the carrier gets no INVITE), and every
refusal is in the tenant's admission log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app, public_app
from ccari.callbacks.services import CallbackService
from ccari.errors import CcariError
from tests.support.openapi import Conformances
from tests.voice.calls import ADA, connected_to, page_of, serving
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_call_controls_pbx import rest
from tests.voice.test_callbacks_pbx import (  # noqa: F401 - fixtures
    ACME,
    Customer,
    callbacks_section,
    cb,
    customer,
    settings,
    token,
)
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx
ALLOWED = "+12015550142"  # acme calls back +1 and +44 (the demo's allow-list)
REFUSED = [  # (number, HTTP status, stable error)
    ("+19005550100", 403, "number-not-allowed"),  # US premium rate (900)
    ("+449012345678", 403, "number-not-allowed"),  # GB premium rate, inside an allowed +44
    ("+18765550100", 403, "number-not-allowed"),  # Jamaica dialled like +1: one-ring scams
    ("+5371234567", 403, "number-not-allowed"),  # Cuba: international revenue share
    ("+8823421234", 403, "number-not-allowed"),  # an international network (+882)
    ("+18002345678", 403, "number-not-allowed"),  # toll-free: not a customer's line
    ("+33142685300", 403, "number-not-allowed"),  # France: not on acme's allow-list
    ("+12015550142,,1", 422, "invalid-number"),  # dialplan: Dial() argument separators
    ("+12015550142&PJSIP/x", 422, "invalid-number"),  # a second channel to ring
    ("${CALLERID(num)}", 422, "invalid-number"),  # a dialplan function
    ("+1201555014)|2", 422, "invalid-number"),
    ("+12015550142; rm -rf /", 422, "invalid-number"),  # shell metacharacters
    ("+44 20 7946 0000 ext. 12", 422, "invalid-number"),
]
Path = Callable[[str], Awaitable[tuple[int, str]]]


@pytest.fixture
def callbacks_config(customer: Customer) -> dict[str, Any]:  # noqa: F811
    # A small per-number burst; a generous per-IP one (the table comes from one address).
    return {**callbacks_section(customer), "number_burst": 2, "ip_burst": 500}


def _paths(rt: Runtime, public: TestClient, internal: TestClient, page: Any, cid: str,
           tenant_token: str) -> dict[str, Path]:
    auth = {"Authorization": f"Bearer {tenant_token}"}

    async def click_to_call(number: str) -> tuple[int, str]:
        resp = await public.post("/v1/callbacks", headers=token(rt), json={"phone": number})
        return resp.status, (await resp.json()).get("error", "")

    async def api_callback(number: str) -> tuple[int, str]:
        resp = await internal.post("/api/callbacks", headers=auth, json={"phone": number})
        return resp.status, (await resp.json()).get("error", "")

    async def ivr(number: str) -> tuple[int, str]:
        service = rt.ivr_callbacks
        assert isinstance(service, CallbackService)
        assert not await service.can_call(ACME, number)  # so the IVR offers no callback
        try:  # and were it asked anyway, the request the IVR makes is refused
            await service.request(ACME, phone=number, when=None, source="ivr")
        except CcariError as exc:
            return exc.status, exc.error_id
        return 201, ""

    async def transfer(number: str) -> tuple[int, str]:
        status, body = await rest(page, cid, "transfer", {"number": number})
        return status, body.get("error", "")

    async def consult(number: str) -> tuple[int, str]:
        status, body = await rest(page, cid, "consult", {"number": number})
        return status, body.get("error", "")

    async def fax(number: str) -> tuple[int, str]:
        resp = await internal.post(f"/api/faxes/outbound?to={quote(number)}",
                                   data=b"%PDF-1.4 not really",
                                   headers={**auth, "Content-Type": "application/pdf"})
        return resp.status, (await resp.json()).get("error", "")

    return {"click-to-call": click_to_call, "api": api_callback, "ivr": ivr,
            "transfer": transfer, "consult": consult, "fax": fax}


async def test_every_way_out_refuses_fraud_before_asterisk_and_logs_it(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer,  # noqa: F811 - fixtures
    openapi_conformance: Conformances, aiohttp_client: Any
) -> None:
    agents = await ready(cb, "alice")
    public = await aiohttp_client(public_app(cb))
    internal = await aiohttp_client(internal_app(cb))
    async with serving(cb, voice_env, openapi_conformance) as served:
        page = await page_of(served, "alice")
        tenant_token = served[1]["acme.token"]
        try:
            async with phone(voice_env, "alice"), customer.phone(answer_after_ms=500,
                                                                 hangup_after_ms=500):
                call = caller(voice_env, digits="1", hangup_after_ms=0, caller=ADA)
                await call.start()
                live = await eventually(lambda: connected_to(cb, agents["alice"].id),
                                        what="alice on the call")
                paths = _paths(cb, public, internal, page, live.id, tenant_token)
                got = {(name, number): await path(number)
                       for number, _, _ in REFUSED for name, path in paths.items()}
                # A burst to one allowed number, spread over the ways out: the fax's
                # document is refused after the number passed (a token each), then every
                # way out is refused for that number, transfers and consults included.
                burst = [await paths["fax"](ALLOWED) for _ in range(2)]
                burst_got = {name: await path(ALLOWED) for name, path in paths.items()}
                assert customer.invites() == []  # nothing reached the carrier
                assert cb.ari is not None and live.channel_id is not None
                await cb.ari.hangup(live.channel_id)
                await call.wait()
        finally:
            await page.close()
    want = {(name, number): (status, error)
            for number, status, error in REFUSED for name in paths}
    assert got == want
    assert burst == [(422, "invalid-document")] * 2
    assert burst_got == {name: (429, "rate-limited") for name in paths}
    # Every refusal is in acme's admission log, with its way out and its reason.
    assert cb.outward is not None
    await cb.outward.settled()
    resp = await internal.get("/api/admission/decisions?refused=1&limit=1000",
                              headers={"Authorization": f"Bearer {tenant_token}"})
    logged = [d for d in (await resp.json())["decisions"] if d["action"] == "refuse"]
    ways = {"click-to-call": "web"}  # a public request is a callback of source "web"
    kept = {(d["inputs"]["path"], d["inputs"]["number"], d["reason"]) for d in logged}
    assert kept >= {(ways.get(name, name), number, error)
                    for (name, number), (_, error) in want.items()}
    assert kept >= {(ways.get(name, name), ALLOWED, "rate-limited") for name in paths}
    assert all(d["direction"] == "outbound" and not d["admit"] for d in logged)
