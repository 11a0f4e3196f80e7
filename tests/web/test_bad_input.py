"""What is not input ccari can take gets a 400 with its error id, never a 500: bodies that
are not UTF-8 or not JSON a parser can hold, strings no database can store, forms cut short,
and socket frames of the same kinds (the socket stays open); a socket whose handler fails
anyway is closed, not garbled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from ccari.errors import BadRequest
from ccari.web.middlewares import errors, note_socket

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
DEEP = "[" * 50_000 + "]" * 50_000
HUGE = "9" * 5000


def _acme(rt: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}


@pytest.mark.parametrize(("body", "content_type", "error_id"), [
    (DEEP.encode(), "application/json", "bad-json"),
    (f'{{"blend_hold_s": {HUGE}}}'.encode(), "application/json", "bad-json"),
    (b'{"blend_hold_s": 5}', "application/json; charset=x-bogus", "bad-json"),
    (b'{"name": "\xff\xfe"}', "application/json", "bad-json"),
    (b'{"blend_hold_s": 5, "note": "\\ud800"}', "application/json", "bad-text"),
])
async def test_a_body_ccari_cannot_read_is_a_400_naming_why(
        client: TestClient, rt: Any, body: bytes, content_type: str, error_id: str) -> None:
    for method, path, auth in [("PUT", "/api/tenants/acme/routing", _acme(rt)),
                               ("PUT", "/api/cobrowse/settings", _acme(rt)),
                               ("POST", "/api/customers", _acme(rt)),
                               ("PUT", "/api/admission/policy?tenant=acme", ADMIN)]:
        resp = await client.request(method, path, data=body,
                                    headers={**auth, "Content-Type": content_type})
        assert (resp.status, (await resp.json())["error"]) == (400, error_id), (method, path)


async def test_a_customer_whose_text_no_database_can_hold_is_refused_and_the_list_still_works(
        client: TestClient, rt: Any) -> None:
    """Accepted, such a customer broke the tenant's customer list and export for everyone."""
    resp = await client.post("/api/customers", headers={**_acme(rt), "Content-Type": "application/json"},
                             data=b'{"name": "Eve", "entitlements": [{"service": "support", '
                                  b'"level": "\\ud800"}]}')
    assert (resp.status, (await resp.json())["error"]) == (400, "bad-text")
    export = await client.get("/api/customers.csv", headers=_acme(rt))
    assert export.status == 200 and "Eve" not in await export.text()


async def test_a_form_ccari_cannot_read_is_a_400(client: TestClient) -> None:
    form = await client.get("/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    for body, content_type in [
            (f"csrf={csrf}&tenant=\xff".encode("latin-1"), "application/x-www-form-urlencoded"),
            (b"--x\r\nContent-Disposition: form-data; name=csrf\r\n\r\n", "multipart/form-data")]:
        resp = await client.post("/agent/login", data=body, headers={"Content-Type": content_type})
        assert (resp.status, (await resp.json())["error"]) == (400, "bad-body"), content_type


async def test_a_price_no_bill_can_compute_with_is_refused(client: TestClient) -> None:
    for price in ("1E+999", "123456789012345678901234567890.5", "0.00000000001"):
        resp = await client.put("/api/admission/rates", params={"tenant": "acme"}, headers=ADMIN,
                                json={"per_trunk_minute": price})
        assert (resp.status, (await resp.json())["error"]) == (400, "bad-rate"), price
    resp = await client.put("/api/admission/rates", params={"tenant": "acme"}, headers=ADMIN,
                            json={"per_trunk_minute": "0.0125"})
    assert resp.status == 200


async def test_the_agent_pages_socket_answers_bad_frames_and_stays_open(
        client: TestClient, rt: Any) -> None:
    form = await client.get("/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    await client.post("/agent/login", data={"csrf": csrf, "tenant": "acme", "username": "alice",
                                            "password": rt.demo_secrets["acme.alice.web"]})
    ws = await client.ws_connect("/agent/ws", headers={"Origin": str(client.make_url("")).rstrip("/")})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    for frame, error_id in [("[" * 7000, "bad-json"),
                            ('{"type": "presence", "presence": []}', "bad-presence"),
                            ('{"type": "accept", "contact_id": "\\ud800"}', "bad-text")]:
        await ws.send_str(frame)
        assert (await ws.receive_json(timeout=5))["error"] == error_id, frame
    await ws.send_json({"type": "presence", "presence": "ready"})
    assert (await ws.receive_json(timeout=5))["state"] == "ready"
    await ws.close()


async def test_a_socket_whose_handler_fails_is_closed_not_answered_over(aiohttp_client: Any) -> None:
    """An HTTP error answer written into an open websocket reached the page as garbage
    (close 1002, "reserved bits"); it closes with 1011, or 4000 + the status of a refusal."""
    async def failing(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        what = (await ws.receive()).data
        if what == "refuse":
            raise BadRequest("no", error_id="bad-thing")
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[errors])
    app.on_response_prepare.append(note_socket)
    app.router.add_get("/ws", failing)
    client = await aiohttp_client(app)
    for what, code in [("bug", 1011), ("refuse", 4400)]:
        ws = await client.ws_connect("/ws")
        await ws.send_str(what)
        msg = await ws.receive(timeout=5)
        assert (msg.type, ws.close_code) == (WSMsgType.CLOSE, code), what


async def test_a_customer_id_in_other_digits_is_no_customer(client: TestClient, rt: Any) -> None:
    """'²' is a digit to Python's isdigit, and no number to int()."""
    resp = await client.get("/api/customers/\u00b2", headers=_acme(rt))
    assert (resp.status, (await resp.json())["error"]) == (404, "customer-not-found")
