"""The contact's page of a received fax (no PBX: the TIFF Asterisk would write is made up;
the real-PBX proof is test_fax_detect_pbx.py and test_fax_t38_pbx.py): the supervisor sees
how it came, found on a voice number or sent to the fax number, over T.38 or as G.711 audio,
with the sender's own words escaped."""

from __future__ import annotations

import html
from pathlib import Path, PurePosixPath

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import Runtime
from ccari.fax.core import Report
from ccari.fax.services import FaxService
from ccari.fax.store import FaxStore
from ccari.storage.models import Number, Queue, Tenant
from tests.fax.conftest import fax_pages
from tests.supervisor.test_supervisor import login

STATION = "<b>FAX</b>"  # a sender's T.30 ident is whatever its machine says


async def received(rt: Runtime, spool: Path, *, detected: bool, mode: str) -> str:
    """A fax settled by ccari's service from what Asterisk would have written; its id."""
    async with rt.sessions() as s:
        acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert acme is not None
        queue = await s.scalar(select(Queue).where(Queue.tenant_id == acme.id))
        assert queue is not None
        tenant_id = acme.id
        s.add(Number(tenant_id=tenant_id, did="15550108", queue_id=queue.id, purpose="fax"))
        await s.commit()
    faxes = FaxService(rt.sessions, rt.queue, FaxStore(rt.config.state_path / "fax"),
                       spool=spool, asterisk_spool=PurePosixPath("/spool"), node="node1")
    if detected:
        await faxes.set_policy(tenant_id, detect_on_voice=True)
        path = await faxes.detected("chan-p", "15550108", tenant_id, "15550177")
    else:
        path = await faxes.arrived("chan-p", "15550108", "acme", "15550177")
    assert path is not None
    [page] = fax_pages(1)
    page.save(spool / Path(path).name, compression="group4", dpi=(204, 98))
    fax = await faxes.settle("chan-p", Report("SUCCESS", 1, "", STATION, "OK", mode=mode))
    assert fax is not None and fax.status == "received"
    return fax.id


@pytest.mark.parametrize(("detected", "mode", "how"), [
    (True, "t38", "found on a voice number by fax detection, over T.38"),
    (False, "audio", "sent to the fax number, as G.711 audio"),
])
async def test_the_supervisor_sees_how_a_fax_came(
        client: TestClient, rt: Runtime, tmp_path: Path, detected: bool, mode: str,
        how: str) -> None:
    fax_id = await received(rt, tmp_path, detected=detected, mode=mode)
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])  # type: ignore[attr-defined]
    page = await client.get(f"/agent/contacts/{fax_id}")
    assert page.status == 200
    text = await page.text()
    cell = text.split('class="fax-how"')[1].split("</dd>")[0]
    assert html.unescape(cell.split(">", 1)[1]) == how
    assert f'data-mode="{mode}"' in cell
    assert f'data-detected="{"yes" if detected else "no"}"' in cell
    # The contact log's fax event says it too; the sender's ident is text, never markup.
    assert f"mode={mode}" in text and f"detected={detected}" in text
    assert STATION not in text and html.escape(STATION) in text
