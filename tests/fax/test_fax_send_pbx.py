"""Sending a PDF as a fax on the real PBX: through the toll-fraud guard, one attempt with a
stable id, and the document arrives (here at the tenant's own fax number) with its pages.
The send names who asked for it and the station id the receiving machine gave over T.30
(ccari's own fax number answers as the number dialled), in the API and on the supervisors'
fax list."""

from __future__ import annotations

import io
from typing import Any

import img2pdf
import pypdf
import pytest

from ccari.app import Runtime, internal_app
from ccari.demo.seed import DEMO
from tests.fax.conftest import FAX_DID, cell, fax_pages
from tests.fax.test_fax_pbx import differing, settled
from tests.supervisor.test_supervisor import login
from tests.support.waits import eventually

pytestmark = pytest.mark.pbx


async def sent_faxes(client: Any, token: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/faxes?direction=sent",
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    return list((await resp.json())["faxes"])


def pdf_of(pages: list[Any]) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:],
                  compression="group4", dpi=(204, 98))
    pdf = img2pdf.convert(out.getvalue())
    assert isinstance(pdf, bytes)
    return pdf


async def test_a_pdf_sent_to_a_number_arrives_with_its_pages(
        ccari: Runtime, fax_db: Any, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    acme = {"Authorization": f"Bearer {demo['acme.token']}", "Content-Type": "application/pdf"}
    sent = fax_pages(2)
    resp = await client.post(f"/api/faxes/outbound?to=%2B{FAX_DID}", data=pdf_of(sent),
                             headers=acme)
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["to"], body["pages"], body["status"]) == (FAX_DID, 2, "sending")
    assert [a["id"] for a in body["attempts"]] == [f"fxo-{body['id']}-1"]

    async def done() -> dict[str, Any] | None:
        got = await (await client.get(f"/api/faxes/outbound/{body['id']}", headers=acme)).json()
        return got if got["status"] != "sending" else None

    final = await eventually(done, 60, "the fax to be sent")
    assert final["status"] == "sent"
    assert [(a["status"], a["pages"], a["error"]) for a in final["attempts"]] == [("sent", 2, None)]
    # Who asked (acme's token), and the receiving machine as it named itself to SendFax.
    station = f"+{FAX_DID}"
    assert (final["sent_by"], final["station_id"]) == ("tenant-token", station)
    [listed] = await sent_faxes(client, demo["acme.token"])
    assert (listed["id"], listed["sent_by"], listed["station_id"]) == (body["id"], "tenant-token",
                                                                      station)
    await login(client, "sam", demo["acme.sam.web"])  # acme's supervisor
    text = await (await client.get("/supervisor/faxes?direction=sent")).text()
    assert (cell(text, body["id"], "station"), cell(text, body["id"], "agent")) == (
        station, "API (tenant token)")
    resp = await client.post(f"/api/faxes/outbound/{body['id']}/resend", headers=acme)
    assert resp.status == 409 and (await resp.json())["error"] == "fax-not-failed"  # never twice
    # The remote machine (ccari's own fax number) got both pages as they were sent.
    [received] = await settled(client, demo["acme.token"])
    assert (received["status"], received["pages"]) == ("received", 2)
    # ...and was told who sent it: acme's caller id (its first number: no caller id is set),
    # as ccari's sending side named itself.
    assert received["station_id"] == f"+{DEMO[0].did}", received
    pdf = await (await client.get(received["pdf"], headers=acme)).read()
    for page, source in zip(pypdf.PdfReader(io.BytesIO(pdf)).pages, sent, strict=True):
        assert differing(page.images[0].image, source) < 0.02
    # Another tenant does not see it.
    globex = {"Authorization": f"Bearer {demo['globex.token']}"}
    resp = await client.get(f"/api/faxes/outbound/{body['id']}", headers=globex)
    assert resp.status == 404 and (await resp.json())["error"] == "fax-not-found"



async def test_a_fax_nobody_answers_fails_with_the_reason_and_is_sent_again_on_request(
        ccari: Runtime, fax_db: Any, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    acme = {"Authorization": f"Bearer {demo['acme.token']}", "Content-Type": "application/pdf"}
    # A valid number the carrier does not know: Asterisk gives up at once (unallocated).
    resp = await client.post("/api/faxes/outbound?to=%2B12015550188", data=pdf_of(fax_pages(1)),
                             headers=acme)
    send = await resp.json()
    assert resp.status == 201, send

    async def failed(attempts: int) -> dict[str, Any] | None:
        got = await (await client.get(f"/api/faxes/outbound/{send['id']}", headers=acme)).json()
        return got if got["status"] == "failed" and len(got["attempts"]) == attempts else None

    first = await eventually(lambda: failed(1), 20, "the first attempt to fail")
    [attempt] = first["attempts"]
    assert (attempt["id"], attempt["status"], attempt["pages"]) == (f"fxo-{send['id']}-1",
                                                                    "failed", 0)
    assert attempt["error"] and attempt["ended_at"]
    # Sent again on request: a second attempt with its own id; the first stays as it was.
    resp = await client.post(f"/api/faxes/outbound/{send['id']}/resend", headers=acme)
    assert resp.status == 201, await resp.json()
    second = await eventually(lambda: failed(2), 20, "the second attempt to fail")
    assert [a["id"] for a in second["attempts"]] == [f"fxo-{send['id']}-1", f"fxo-{send['id']}-2"]
    assert second["attempts"][0] == attempt
    # Each attempt names who asked for it: acme's token, for the send and for the resend.
    assert [a["requested_by"] for a in second["attempts"]] == ["tenant-token", "tenant-token"]
    # Another tenant cannot resend it.
    globex = {"Authorization": f"Bearer {demo['globex.token']}"}
    resp = await client.post(f"/api/faxes/outbound/{send['id']}/resend", headers=globex)
    assert resp.status == 404 and (await resp.json())["error"] == "fax-not-found"
    # Once acme no longer calls +1, a resend is refused like a new send (no third attempt).
    tenant = {"Authorization": acme["Authorization"]}
    resp = await client.put("/api/callbacks/settings", headers=tenant, json={"allow": ["+44"]})
    assert resp.status == 200, await resp.json()
    resp = await client.post(f"/api/faxes/outbound/{send['id']}/resend", headers=acme)
    assert (resp.status, (await resp.json())["error"]) == (403, "number-not-allowed")
    got = await (await client.get(f"/api/faxes/outbound/{send['id']}", headers=acme)).json()
    assert len(got["attempts"]) == 2 and got["status"] == "failed"
