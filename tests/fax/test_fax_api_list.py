"""The tenant API's fax list and a sent fax's document (no PBX: the faxes are received and
sent through the fax package's own service and sender, as on the list page's tests).

What a tenant's program notices: the same filters and pages as the supervisors' list, received
faxes with the fields they always had (sent ones only when it asks), the days on the tenant's
clock, a filter it gets wrong refused with the page's error id, and its own faxes only."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.fax import http as fax_http
from ccari.fax.core import Report
from ccari.storage.models import Tenant
from tests.fax.conftest import cell, fax_pages
from tests.fax.test_fax_list_pages import MONDAY, Faxes, as_supervisor, faxes
from tests.fax.test_fax_send_pbx import pdf_of

__all__ = ["faxes"]
# What GET /api/faxes showed of a received fax before sent ones joined the list.
RECEIVED_FIELDS = {"id", "status", "pages", "sender_number", "station_id", "error", "detail",
                   "created_at", "settled_at", "tiff_sha256", "pdf_sha256", "contact_id",
                   "state", "agent_id", "pdf", "detected", "mode"}


def token(rt: Runtime, slug: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.demo_secrets[f'{slug}.token']}"}  # type: ignore[attr-defined]


async def listed(client: TestClient, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    resp = await client.get("/api/faxes" + query, headers=headers)
    body = await resp.json()
    assert resp.status == 200, body
    return dict(body)


def ids(body: dict[str, Any]) -> list[str]:
    return [f["id"] for f in body["faxes"]]


async def in_zone(rt: Runtime, slug: str, zone: str) -> None:
    async with rt.sessions() as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        tenant.hours = {"time_zone": zone, "weekly": []}
        await s.commit()


async def test_filters_and_pages_through_the_api(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    # Monday: 26 faxes that never came, one that did, one sent; then one at 02:00 UTC on
    # Tuesday, still Monday evening on acme's clock (New York).
    failed = [await faxes.receive("acme", "15550166", pages=0, status="FAILED",
                                  error="NO_FAX", detail="no fax") for _ in range(26)]
    whole = await faxes.receive("acme", "15550177", station="ADA HOME")
    document = pdf_of(fax_pages(2))
    sent = await faxes.send("acme", "+12015550100", document, busy_first=True,
                            station="+1 201 555 0100")
    faxes.clock.now = MONDAY.replace(hour=1, minute=59) + dt.timedelta(days=1)
    late = await faxes.receive("acme", "15550188")
    theirs = await faxes.receive("globex", "15550177")
    theirs_sent = await faxes.send("globex", "+12015550101", document)
    await in_zone(rt, "acme", "America/New_York")
    acme = token(rt, "acme")

    # Without a direction: received faxes, as before, with the fields they always had.
    body = await listed(client, acme)
    assert ids(body) == [late, whole, *reversed(failed)][:50]
    assert (body["total"], body["page"], body["pages"], body["size"]) == (28, 1, 1, 50)
    first = body["faxes"][1]
    assert set(first) == RECEIVED_FIELDS | {"direction"}
    assert (first["direction"], first["status"], first["sender_number"], first["station_id"],
            first["pdf"]) == ("received", "received", "15550177", "ADA HOME",
                              f"/api/faxes/{whole}/pdf")
    assert (await client.get(first["pdf"], headers=acme)).status == 200

    # Both directions in one list, newest first, paged.
    everything = [late, sent, whole, *reversed(failed)]
    page1 = await listed(client, acme, "?direction=all&size=25")
    assert ids(page1) == everything[:25]
    assert (page1["total"], page1["page"], page1["pages"], page1["size"]) == (29, 1, 2, 25)
    page2 = await listed(client, acme, "?direction=all&size=25&page=2")
    assert ids(page2) == everything[25:] and page2["page"] == 2
    assert ids(await listed(client, acme, "?direction=all&size=25&page=3")) == []
    # A sent fax: where it went, who asked, the machine that took it, each attempt (status,
    # pages, Asterisk's reason), its document.
    [out] = (await listed(client, acme, "?direction=sent"))["faxes"]
    assert (out["id"], out["direction"], out["to"], out["pages"], out["status"]) == (
        sent, "sent", "12015550100", 2, "sent")
    assert (out["sent_by"], out["station_id"]) == ("tenant-token", "+1 201 555 0100")
    assert [(a["status"], a["pages"], a["error"]) for a in out["attempts"]] == [
        ("failed", 0, "user-busy"), ("sent", 2, None)]
    pdf = await client.get(out["pdf"], headers=acme)
    assert (pdf.status, await pdf.read()) == (200, document)

    assert ids(await listed(client, acme, "?status=failed")) == list(reversed(failed))
    assert ids(await listed(client, acme, "?direction=all&status=sent")) == [sent]
    assert ids(await listed(client, acme, "?direction=received&status=sent")) == []
    assert ids(await listed(client, acme, "?direction=all&number=0177")) == [whole]
    assert ids(await listed(client, acme, "?direction=all&number=%2B1+201+555+0100")) == [sent]
    # Days on acme's clock: 02:00 UTC on Tuesday is Monday evening in New York.
    assert ids(await listed(client, acme, "?direction=all&from=2026-07-07")) == []
    assert ids(await listed(client, acme, "?direction=all&from=2026-07-06&to=2026-07-06"
                                          "&size=100")) == everything

    # Another tenant's faxes are never listed; the admin names the tenant.
    globex = await listed(client, token(rt, "globex"), "?direction=all")
    assert ids(globex) == [theirs_sent, theirs] and globex["total"] == 2
    admin = {"Authorization": f"Bearer {rt.config.admin_token}"}
    assert ids(await listed(client, admin, "?tenant=acme&direction=all&size=100")) == everything


@pytest.mark.parametrize(("query", "error_id"), [
    ("?direction=inbound", "bad-direction"),
    ("?direction=%3Cb%3E", "bad-direction"),
    ("?status=delivered", "bad-status"),
    ("?from=2026-13-01", "bad-period"),
    ("?from=2026-07-08&to=2026-07-01", "bad-period"),
    ("?from=2025-01-01&to=2026-07-01", "bad-period"),  # more than a year
    ("?number=abc", "bad-number"),
    ("?number=" + "1" * 33, "bad-number"),
    ("?size=1000", "bad-page"),
    ("?size=10", "bad-page"),
    ("?page=0", "bad-page"),
    ("?page=two", "bad-page"),
])
async def test_a_filter_the_api_does_not_know_is_400_with_the_pages_error_id(
        client: TestClient, rt: Runtime, query: str, error_id: str) -> None:
    resp = await client.get("/api/faxes" + query, headers=token(rt, "acme"))
    body = await resp.json()
    assert (resp.status, body["error"]) == (400, error_id), body


async def test_a_sent_faxs_document_is_its_tenants_only(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    document = pdf_of(fax_pages(1))
    ours = await faxes.send("acme", "+12015550100", document)
    received = await faxes.receive("acme", "15550177")
    theirs = await faxes.send("globex", "+12015550101", pdf_of(fax_pages(2)))
    acme, globex = token(rt, "acme"), token(rt, "globex")

    resp = await client.get(f"/api/faxes/outbound/{ours}/pdf", headers=acme)
    assert (resp.status, resp.content_type, await resp.read()) == (200, "application/pdf",
                                                                   document)
    assert resp.headers["Cache-Control"] == "private, no-store"
    # The send's own answer names its document.
    got = await (await client.get(f"/api/faxes/outbound/{ours}", headers=acme)).json()
    assert (got["direction"], got["pdf"]) == ("sent", f"/api/faxes/outbound/{ours}/pdf")
    admin = {"Authorization": f"Bearer {rt.config.admin_token}"}
    resp = await client.get(f"/api/faxes/outbound/{ours}/pdf?tenant=acme", headers=admin)
    assert resp.status == 200
    # Another tenant's, a received fax's id, or none: not found.
    for headers, fax_id in ((globex, ours), (acme, theirs), (acme, received), (acme, "nope")):
        resp = await client.get(f"/api/faxes/outbound/{fax_id}/pdf", headers=headers)
        assert (resp.status, (await resp.json())["error"]) == (404, "fax-not-found"), fax_id
    resp = await client.get(f"/api/faxes/outbound/{ours}/pdf?tenant=globex", headers=admin)
    assert resp.status == 404
    assert (await client.get(f"/api/faxes/outbound/{ours}/pdf")).status == 401


async def test_a_sent_fax_names_who_asked_for_it_and_the_machine_that_took_it(
        client: TestClient, rt: Runtime, faxes: Faxes, aiohttp_client: Any) -> None:
    # The API's sends go to the fax package's own sender, which dials nothing real.
    app = internal_app(rt)
    app[fax_http.SENDER] = faxes.sender
    api = await aiohttp_client(app)
    pdf = {"Content-Type": "application/pdf"}
    acme = token(rt, "acme")
    admin = {"Authorization": f"Bearer {rt.config.admin_token}"}
    document = pdf_of(fax_pages(1))
    resp = await api.post("/api/faxes/outbound?to=%2B12015550100", data=document,
                          headers={**acme, **pdf})
    ours = await resp.json()
    assert resp.status == 201, ours
    assert (ours["sent_by"], ours["station_id"]) == ("tenant-token", None)  # nobody answered
    resp = await api.post("/api/faxes/outbound?to=%2B12015550101&tenant=acme", data=document,
                          headers={**admin, **pdf})
    admins = await resp.json()
    assert resp.status == 201, admins
    assert admins["sent_by"] == "admin-token"
    # The first is taken by a machine that names itself; the second is not answered.
    await faxes.taken(ours["id"], station="+1 201 555 0100")

    listed_sent = {f["id"]: f for f in (await listed(client, acme, "?direction=sent"))["faxes"]}
    assert {i: (f["sent_by"], f["station_id"], f["status"]) for i, f in listed_sent.items()} == {
        ours["id"]: ("tenant-token", "+1 201 555 0100", "sent"),
        admins["id"]: ("admin-token", None, "sending")}
    got = await (await client.get(f"/api/faxes/outbound/{ours['id']}", headers=acme)).json()
    assert (got["sent_by"], got["station_id"]) == ("tenant-token", "+1 201 555 0100")
    # The supervisors' list shows the same.
    await as_supervisor(client, rt)
    text = await (await client.get("/supervisor/faxes?direction=sent")).text()
    assert [(cell(text, i, "agent"), cell(text, i, "station")) for i in (ours["id"], admins["id"])
            ] == [("API (tenant token)", "+1 201 555 0100"), ("API (admin token)", "–")]


async def test_a_resend_keeps_who_asked_for_it(
        client: TestClient, rt: Runtime, faxes: Faxes, aiohttp_client: Any) -> None:
    app = internal_app(rt)
    app[fax_http.SENDER] = faxes.sender
    api = await aiohttp_client(app)
    acme = token(rt, "acme")
    admin = {"Authorization": f"Bearer {rt.config.admin_token}"}
    resp = await api.post("/api/faxes/outbound?to=%2B12015550100", data=pdf_of(fax_pages(1)),
                          headers={**acme, "Content-Type": "application/pdf"})
    sent = await resp.json()
    assert resp.status == 201, sent
    fax_id = sent["id"]

    async def busy(attempt: int) -> None:
        await faxes.dialled(f"fxo-{fax_id}-{attempt}")
        await faxes.sender.ended(f"fxo-{fax_id}-{attempt}", Report.lost("user-busy", cause=17))

    # The line is busy; the admin asks for it again, the line is busy again, then acme asks.
    await busy(1)
    resp = await api.post(f"/api/faxes/outbound/{fax_id}/resend?tenant=acme", headers=admin)
    by_admin = await resp.json()
    assert resp.status == 201, by_admin
    assert [a["requested_by"] for a in by_admin["attempts"]] == ["tenant-token", "admin-token"]
    await busy(2)
    resp = await api.post(f"/api/faxes/outbound/{fax_id}/resend", headers=acme)
    assert resp.status == 201, await resp.json()
    await faxes.taken(fax_id, 3, station="+1 201 555 0100")

    asked = [("tenant-token", "failed"), ("admin-token", "failed"), ("tenant-token", "sent")]
    got = await (await client.get(f"/api/faxes/outbound/{fax_id}", headers=acme)).json()
    assert [(a["requested_by"], a["status"]) for a in got["attempts"]] == asked
    assert got["sent_by"] == "tenant-token"  # the send itself: who asked first
    [listed_sent] = (await listed(client, acme, "?direction=sent"))["faxes"]
    assert [(a["requested_by"], a["status"]) for a in listed_sent["attempts"]] == asked
    listed_all = await listed(client, admin, "?tenant=acme&direction=all")
    assert [a["requested_by"] for a in listed_all["faxes"][0]["attempts"]] == [a for a, _ in asked]
    # The supervisors' list says who asked for each attempt after the first.
    await as_supervisor(client, rt)
    text = await (await client.get("/supervisor/faxes?direction=sent")).text()
    assert cell(text, fax_id, "agent") == "API (tenant token)"
    status = cell(text, fax_id, "status")
    assert status.startswith("sent failed, 0 of 1 page, user-busy (2026-07-06 "), status
    assert re.search(r"failed, 0 of 1 page, user-busy \(2026-07-06 [0-9:]+\), resent by API "
                     r"\(admin token\) sent, 1 of 1 page \(2026-07-06 [0-9:]+\), resent by API "
                     r"\(tenant token\)$", status), status
    row = text.split(f'data-fax="{fax_id}"', 1)[1].split("</tr>", 1)[0]
    assert "resent by API (admin token)</li>" in row
