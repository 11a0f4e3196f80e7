"""The agent page in Chromium: a received fax is offered to the agent with a fax slot, with
how it came (to the fax number or found on a voice number; G.711 or T.38); she accepts it,
opens its PDF (both pages) from the page, and completes it."""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

import pypdf
import pytest
from playwright.async_api import expect
from sqlalchemy import select

from ccari.app import Runtime, internal_app
from ccari.fax.core import Report
from ccari.fax.services import FaxService
from ccari.fax.store import FaxStore
from ccari.storage.models import Agent, Contact, Number, Queue
from ccari.tenants import repo as tenants_repo
from tests.fax.conftest import fax_pages
from tests.public.conftest import demo, rt
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening

__all__ = ["demo", "rt"]
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.mark.parametrize(("detected", "mode", "how"), [
    (False, "audio", "sent to the fax number, as G.711 audio"),
    (True, "t38", "found on a voice number by fax detection, over T.38"),
])
async def test_an_agent_opens_a_received_fax_on_the_page(
        rt: Runtime, demo: dict[str, Any], tmp_path: Path, detected: bool, mode: str,
        how: str) -> None:
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        acme_id = acme.id
        queue = await s.scalar(select(Queue).where(Queue.tenant_id == acme.id))
        assert queue is not None
        s.add(Number(tenant_id=acme.id, did="15550109", queue_id=queue.id, purpose="fax"))
        alice = await s.scalar(select(Agent).where(Agent.tenant_id == acme.id,
                                                   Agent.username == "alice"))
        assert alice is not None
        alice.slots = {"per_medium": {"fax": 1}, "total": 1, "exclusive": []}
        await s.commit()
    # What Asterisk would have written: ccari's service takes it from the spool.
    faxes = FaxService(rt.sessions, rt.queue, FaxStore(rt.config.state_path / "fax"),
                       spool=tmp_path, asterisk_spool=PurePosixPath("/spool"), node="node1")
    if detected:  # it called a number of the tenant's, which listens for faxes
        await faxes.set_policy(acme_id, detect_on_voice=True)
        path = await faxes.detected("chan-1", "15550109", acme_id, "15550177")
    else:
        path = await faxes.arrived("chan-1", "15550109", "acme", "15550177")
    assert path is not None and path.startswith("/spool/")
    pages = fax_pages(2)
    pages[0].save(tmp_path / Path(path).name, save_all=True, append_images=pages[1:],
                  compression="group4", dpi=(204, 98))
    fax = await faxes.settle("chan-1", Report("SUCCESS", 2, "", "REMOTE 1", "OK", mode=mode))
    assert fax is not None and fax.status == "received"
    assert not (tmp_path / Path(path).name).exists()  # kept by ccari, gone from the spool

    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await agent_login(await (await browser.new_context()).new_page(),
                                     base, "alice", demo["acme.alice.web"],
                                     ready=False)
            await page.click("#ready")  # the fax is offered at once
            item = page.locator(".work-item[data-medium=fax]")
            await expect(item.locator(".caller")).to_have_text("REMOTE 1 15550177")  # station id, number
            # How it came (the screen pop), written as text.
            await expect(item.locator(".fax-pane .fax-how")).to_have_text(how)
            await item.locator(".accept").click()
            await expect(item).to_have_attribute("data-status", "connected")
            href = await item.locator(".fax-pane a.fax-document").get_attribute("href")
            assert href is not None
            resp = await page.request.get(f"{base}{href}")
            assert resp.status == 200 and resp.headers["content-type"] == "application/pdf"
            assert len(pypdf.PdfReader(io.BytesIO(await resp.body())).pages) == 2
            await item.locator(".complete").click()
            await expect(item).to_have_count(0)
    async with rt.sessions() as s:
        done = await s.get(Contact, fax.id)
    assert done is not None and done.state == "completed"
