"""Reconnect, then reconcile: a fax that ends while ccari is away is not lost.  ccari stops
while a fax is coming in; Asterisk finishes receiving it alone (the result it reports then
reaches no one); the next ccari finds the fax's call gone and keeps the pages in Asterisk's
file as a partial fax whose log says why."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pypdf
import pytest

from ccari.ami import AmiAdapter
from ccari.app import internal_app, runtime
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
