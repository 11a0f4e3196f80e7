"""Receiving faxes on the real PBX: a fax sent to a tenant's fax number becomes a contact of
medium ``fax`` with its pages, sender and PDF; a sender that gives up leaves a failed
contact with Asterisk's reason; the API shows each tenant only its own faxes."""

from __future__ import annotations

import io
from typing import Any

import pypdf
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.ami import AmiAdapter
from ccari.app import Runtime, internal_app
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact, ContactEvent
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
        tiff = write_tiff(fax_pbx, "two-pages", fax_pages(2))
        await send_fax(ami, "faxsend-ok", application="SendFax", data=str(tiff))
        [fax] = await settled(client, demo["acme.token"])
        assert (fax["status"], fax["pages"], fax["error"]) == ("received", 2, None)
        assert (fax["sender_number"], fax["station_id"]) == (SENDER, STATION)
        async with ccari.sessions() as s:
            contact = await s.get(Contact, fax["contact_id"])
            assert contact is not None
            assert (contact.medium, contact.caller_number) == ("fax", SENDER)
        # The PDF opens, with the fax's two pages.
        acme = {"Authorization": f"Bearer {demo['acme.token']}"}
        resp = await client.get(fax["pdf"], headers=acme)
        assert resp.status == 200 and resp.content_type == "application/pdf"
        pdf = pypdf.PdfReader(io.BytesIO(await resp.read()))
        assert len(pdf.pages) == 2
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
