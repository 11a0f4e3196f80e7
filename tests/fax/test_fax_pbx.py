"""Receiving faxes on the real PBX: a fax sent to a tenant's fax number becomes a contact of
medium ``fax`` with its pages, sender and PDF; a sender that gives up leaves a failed
contact with Asterisk's reason; one that stops after page 1 a partial fax an agent still gets;
the PDF's pages match the pages sent; the API shows each tenant only its own faxes."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pypdf
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image, ImageChops
from sqlalchemy import select

from ccari.ami import AmiAdapter
from ccari.app import Runtime, internal_app
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact, ContactEvent, Customer
from tests.fax.conftest import FAX_DID, SENDER, STATION, fax_pages, write_tiff
from tests.support.agent_web import open_agent_page
from tests.support.waits import eventually

pytestmark = pytest.mark.pbx


async def send_fax(ami: AmiAdapter, attempt: str, *, application: str, data: str) -> None:
    """The remote fax machine dials the fax number through the carrier's context."""
    result = await ami.originate(
        action_id=attempt, channel_id=attempt, channel=f"Local/{FAX_DID}@from-carrier",
        application=application, data=data, caller_id=f'"Remote" <{SENDER}>',
        variables={"FAXOPT(localstationid)": STATION}, timeout_ms=10000)
    assert result.success, result.response


def differing(got: Image.Image, sent: Image.Image) -> float:
    """The share of the sent page's dots that came out different."""
    assert got.size == sent.size, (got.size, sent.size)
    diff = ImageChops.difference(got.convert("L"), sent.convert("L"))
    changed = sum(diff.histogram()[128:])  # dots whose grey moved by half the scale or more
    return changed / (sent.width * sent.height)


async def faxes(client: TestClient, token: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/faxes", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    return list((await resp.json())["faxes"])


async def settled(client: TestClient, token: str) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        listed = await faxes(client, token)
        return listed if listed and listed[0]["status"] != "receiving" else None

    return list(await eventually(check, 60, "the fax to be settled"))


async def test_a_received_fax_is_a_contact_with_its_pages_and_pdf(
        ccari: Runtime, fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter,
        aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    alice = await open_agent_page(str(client.make_url("")), "acme", "alice",
                                  demo["acme.alice.web"])
    try:
        await alice.presence("ready")
        sent = fax_pages(2)
        tiff = write_tiff(fax_pbx, "two-pages", sent)
        await send_fax(ami, "faxsend-ok", application="SendFax", data=str(tiff))
        [fax] = await settled(client, demo["acme.token"])
        assert (fax["status"], fax["pages"], fax["error"]) == ("received", 2, None)
        assert (fax["sender_number"], fax["station_id"]) == (SENDER, STATION)
        async with ccari.sessions() as s:
            contact = await s.get(Contact, fax["contact_id"])
            assert contact is not None
            assert (contact.medium, contact.caller_number) == ("fax", SENDER)
            ada = await s.get(Customer, contact.customer_id)  # the sender's record: screen pop
            assert ada is not None and ada.name == "Ada Lovelace"
        # The PDF opens, with the fax's two pages.
        acme = {"Authorization": f"Bearer {demo['acme.token']}"}
        resp = await client.get(fax["pdf"], headers=acme)
        assert resp.status == 200 and resp.content_type == "application/pdf"
        pdf = pypdf.PdfReader(io.BytesIO(await resp.read()))
        assert len(pdf.pages) == 2
        for page, source in zip(pdf.pages, sent, strict=True):
            assert differing(page.images[0].image, source) < 0.01
        assert differing(pdf.pages[0].images[0].image, sent[1]) > 0.01  # pages are told apart
        # Routed to the agent with a fax slot: offered on her page, the PDF hers to read.

        async def offered() -> bool:
            async with ccari.sessions() as s:
                c = await s.get(Contact, fax["id"])
                return c is not None and c.state == "offered"

        await eventually(offered, 10, "the fax to be offered to alice")
        resp = await alice.http.get(f"/agent/faxes/{fax['id']}/pdf")
        assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
        # Another tenant sees none of it; the document cannot go while an agent has it.
        globex = {"Authorization": f"Bearer {demo['globex.token']}"}
        assert await faxes(client, demo["globex.token"]) == []
        for path in (f"/api/faxes/{fax['id']}", fax["pdf"]):
            resp = await client.get(path, headers=globex)
            assert resp.status == 404 and (await resp.json())["error"] == "fax-not-found"
        resp = await client.delete(f"/api/faxes/{fax['id']}", headers=globex)
        assert resp.status == 404
        resp = await client.delete(f"/api/faxes/{fax['id']}", headers=acme)
        assert resp.status == 409 and (await resp.json())["error"] == "fax-in-progress"
    finally:
        await alice.close()


async def test_a_sender_that_hangs_up_leaves_a_failed_fax_in_the_contact_log(
        ccari: Runtime, fax_db: Any, ami: AmiAdapter, aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    # The "fax machine" answers, waits a second and hangs up without sending a page.
    await send_fax(ami, "faxsend-gone", application="Wait", data="1")
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"], fax["pdf"]) == ("failed", 0, None)
    assert fax["error"]  # Asterisk's reason
    async with ccari.sessions() as s:
        contact = await s.get(Contact, fax["contact_id"])
        assert contact is not None
        assert (contact.medium, contact.state, contact.disposition) == ("fax", "failed", "fax-failed")
        notes = list(await s.scalars(select(ContactEvent.note).where(
            ContactEvent.contact_id == contact.id, ContactEvent.kind == "fax")))
        assert notes == [f"fax failed: {fax['error']}, 0 page(s)"]
    # A settled fax's document can go; it is gone for good.
    acme = {"Authorization": f"Bearer {demo['acme.token']}"}
    resp = await client.delete(f"/api/faxes/{fax['id']}", headers=acme)
    assert resp.status == 204
    resp = await client.get(f"/api/faxes/{fax['id']}", headers=acme)
    assert resp.status == 404


def _rx_pages(pbx: PbxProcess) -> int:
    """Pages the receiving fax session (ccari's) has taken so far, from Asterisk's CLI."""
    for line in pbx.rx("fax show sessions").splitlines():
        parts = line.split()
        if len(parts) > 4 and parts[4] == "receive" and parts[2].isdigit():
            for detail in pbx.rx(f"fax show session {parts[2]}").splitlines():
                if detail.startswith("Rx Pages"):
                    return int(detail.split(":")[1])
    return 0


async def test_a_sender_that_hangs_up_after_page_one_leaves_a_partial_fax(
        ccari: Runtime, fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter,
        aiohttp_client: Any) -> None:
    demo = fax_db[1]
    client = await aiohttp_client(internal_app(ccari))
    tiff = write_tiff(fax_pbx, "three-pages", fax_pages(3))
    await send_fax(ami, "faxsend-partial", application="SendFax", data=str(tiff))

    async def one_page() -> bool:
        return await asyncio.to_thread(_rx_pages, fax_pbx) >= 1

    await eventually(one_page, 60, "ccari to have received page 1")
    assert ccari.ari is not None
    await ccari.ari.hangup("faxsend-partial")  # the fax machine gives up on page 2
    [fax] = await settled(client, demo["acme.token"])
    assert (fax["status"], fax["pages"]) == ("partial", 1)
    assert fax["error"]  # Asterisk's reason
    acme = {"Authorization": f"Bearer {demo['acme.token']}"}
    resp = await client.get(fax["pdf"], headers=acme)
    assert len(pypdf.PdfReader(io.BytesIO(await resp.read())).pages) == 1
    async with ccari.sessions() as s:
        contact = await s.get(Contact, fax["contact_id"])
        assert contact is not None and contact.state in ("queued", "offered")
        notes = list(await s.scalars(select(ContactEvent.note).where(
            ContactEvent.contact_id == contact.id, ContactEvent.kind == "fax")))
        assert notes == [f"fax partial: {fax['error']}, 1 page(s)"]
