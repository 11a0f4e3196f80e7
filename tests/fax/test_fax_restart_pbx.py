"""Reconnect, then reconcile: a fax that ends while ccari is away is not lost.  ccari stops
while a fax is coming in; Asterisk finishes receiving it alone (the result it reports then
reaches no one); the next ccari finds the fax's call gone and keeps the pages in Asterisk's
file as a partial fax whose log says why.  A fax still coming in when ccari restarts
reports to the new ccari; a fax call that reached Stasis while ccari was away is taken
when ccari connects."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pypdf
import pytest

from ccari.ami import AmiAdapter
from ccari.app import internal_app, runtime
from ccari.ari import AriClient
from ccari.ari.events import StasisStart
from ccari.pbx import PbxProcess
from tests.fax.conftest import _idle, fax_pages, write_tiff
from tests.fax.test_fax_pbx import faxes, send_fax, settled
from tests.support.waits import eventually

pytestmark = pytest.mark.pbx


async def test_a_fax_received_while_ccari_was_away_is_kept(
        fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter, aiohttp_client: Any) -> None:
    cfg, demo = fax_db
    token = demo["acme.token"]
    async with runtime(cfg) as first:
        client = await aiohttp_client(internal_app(first))
        await send_fax(ami, "faxsend-away", application="SendFax",
                       data=str(write_tiff(fax_pbx, "away", fax_pages(2))))

        async def receiving() -> bool:
            return [f["status"] for f in await faxes(client, token)] == ["receiving"]

        await eventually(receiving, 20, "the fax to be saved as receiving")
        await client.close()
    # ccari is gone; Asterisk receives the rest and hangs up.

    async def idle() -> bool:
        return await asyncio.to_thread(_idle, fax_pbx)

    await eventually(idle, 60, "the fax call to end")
    async with runtime(cfg) as second:
        client = await aiohttp_client(internal_app(second))
        [fax] = await settled(client, token)
        assert (fax["status"], fax["pages"], fax["error"]) == ("partial", 2, "lost-while-away")
        resp = await client.get(fax["pdf"], headers={"Authorization": f"Bearer {token}"})
        assert len(pypdf.PdfReader(io.BytesIO(await resp.read())).pages) == 2


async def test_a_fax_call_that_reached_stasis_while_ccari_was_away_is_taken_on_connect(
        fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter, aiohttp_client: Any) -> None:
    cfg, demo = fax_db
    spec = fax_pbx.spec
    arrived = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        # Someone else holds ccari's app while the fax call arrives, and handles nothing.
        stand_in = AriClient(http, fax_pbx.ari_url, spec.ari_user, spec.ari_password,
                             spec.app_name)
        stand_in.on(StasisStart, lambda ev: arrived.set())
        await stand_in.start()
        # The originate answers once the fax call is answered: by ccari, later.
        sending = asyncio.create_task(send_fax(
            ami, "faxsend-late", application="SendFax",
            data=str(write_tiff(fax_pbx, "late", fax_pages(1)))))
        try:
            await asyncio.wait_for(arrived.wait(), 10)
        finally:
            await stand_in.close()
    async with runtime(cfg) as rt:  # the call waits in Stasis(..., fax, ...): ccari takes it
        client = await aiohttp_client(internal_app(rt))
        await sending
        [fax] = await settled(client, demo["acme.token"])
        assert (fax["status"], fax["pages"], fax["error"]) == ("received", 1, None)


async def test_a_fax_still_coming_in_when_ccari_restarts_reports_to_the_new_ccari(
        fax_db: Any, fax_pbx: PbxProcess, ami: AmiAdapter, aiohttp_client: Any) -> None:
    cfg, demo = fax_db
    token = demo["acme.token"]
    async with runtime(cfg) as first:
        client = await aiohttp_client(internal_app(first))
        await send_fax(ami, "faxsend-restart", application="SendFax",
                       data=str(write_tiff(fax_pbx, "restart", fax_pages(2))))

        async def receiving() -> bool:
            return [f["status"] for f in await faxes(client, token)] == ["receiving"]

        await eventually(receiving, 20, "the fax to be saved as receiving")
        await client.close()
    assert not await asyncio.to_thread(_idle, fax_pbx)  # the fax is still coming in
    async with runtime(cfg) as second:
        client = await aiohttp_client(internal_app(second))
        [fax] = await settled(client, token)
        assert (fax["status"], fax["pages"], fax["error"]) == ("received", 2, None)
