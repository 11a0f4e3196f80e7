"""The fax list of supervisors and admins (no PBX: the faxes are received and sent through the
fax package's own service and sender, with what Asterisk would have written and reported).

What a supervisor notices: her tenant's faxes only, newest first, received and sent, each
with its status, Asterisk's reason and a sent fax's attempts, the agent, who asked for a sent
fax and the station id of the machine that took it, the contact's page and the PDF; the
filters and the pages; a sender's own words shown as text; no way in without the right
session, and no way to another tenant's documents."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import Runtime
from ccari.callbacks.models import CallbackSettings
from ccari.fax.core import Report
from ccari.fax.models import FaxSend
from ccari.fax.sending import FaxSender, SentBy
from ccari.fax.services import FaxService
from ccari.fax.store import FaxStore
from ccari.storage.models import Agent, Contact, Number, Queue, Tenant
from tests.fax.conftest import cell, fax_pages
from tests.fax.test_fax_retry_restart import RecordingAri
from tests.fax.test_fax_send_pbx import pdf_of
from tests.provisioning.test_pages import login as admin_login
from tests.supervisor.test_supervisor import login
from tests.support.waits import eventually

FAX_DIDS = {"acme": "15550108", "globex": "15550208"}
MONDAY = dt.datetime(2026, 7, 6, 9, 0, tzinfo=dt.UTC)
FAX_ROW = re.compile(r'<tr class="fax" data-fax="([0-9a-f]+)" data-direction="(\w+)" '
                     r'data-status="(\w+)"')


@dataclass
class Clock:
    now: dt.datetime = MONDAY

    def __call__(self) -> float:
        self.now += dt.timedelta(minutes=1)  # every fax a minute after the one before
        return self.now.timestamp()


@dataclass
class Faxes:
    """Faxes received and sent the way ccari's fax package does it."""

    rt: Runtime
    spool: Path
    clock: Clock = field(default_factory=Clock)
    count: int = 0

    def __post_init__(self) -> None:
        store = FaxStore(self.rt.config.state_path / "fax")  # where the runtime's routes read
        self.service = FaxService(self.rt.sessions, self.rt.queue, store, spool=self.spool,
                                  asterisk_spool=PurePosixPath("/spool"), node="node1",
                                  clock=self.clock)
        self.ari = RecordingAri()
        self.sender = FaxSender(self.rt.sessions, store, spool=self.spool,
                                asterisk_spool=PurePosixPath("/spool"),
                                dial="PJSIP/{trunk}/sip:{digits}@{host}", trunk="carrier",
                                host="127.0.0.2:5060", admission=None, clock=self.clock)
        self.sender.ari = self.ari  # type: ignore[assignment]

    async def numbers(self) -> None:
        """A fax number for each tenant (and a dial policy for globex, which has none)."""
        async with self.rt.sessions() as s:
            for slug, did in FAX_DIDS.items():
                tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
                assert tenant is not None
                queue = await s.scalar(select(Queue).where(Queue.tenant_id == tenant.id))
                assert queue is not None
                s.add(Number(tenant_id=tenant.id, did=did, queue_id=queue.id, purpose="fax"))
                if await s.get(CallbackSettings, tenant.id) is None:  # globex may dial the US
                    s.add(CallbackSettings(tenant_id=tenant.id, allow=["+1"], deny=[]))
            await s.commit()

    async def receive(self, slug: str, sender: str, *, pages: int = 1, status: str = "SUCCESS",
                      station: str = "", error: str = "", detail: str = "") -> str:
        self.count += 1
        channel = f"chan-{self.count}"
        path = await self.service.arrived(channel, FAX_DIDS[slug], slug, sender)
        assert path is not None
        if pages:
            first, *more = fax_pages(pages)
            first.save(self.spool / Path(path).name, save_all=True, append_images=more,
                       compression="group4", dpi=(204, 98))
        fax = await self.service.settle(channel, Report(status, pages, error, station, detail))
        assert fax is not None
        return fax.id

    async def send(self, slug: str, to: str, pdf: bytes, *, busy_first: bool = False,
                   station: str = "", sent_by: SentBy | None = "tenant-token") -> str:
        """A fax sent to ``to`` as the API accepts one from ``sent_by``: answered and taken
        whole by a machine whose station id is ``station`` (after a busy line, then a
        resend, with ``busy_first``)."""
        async with self.rt.sessions() as s:
            tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
            assert tenant is not None
        send = await self.sender.submit(tenant.id, to, pdf, sent_by=sent_by)
        if busy_first:
            await self.dialled(f"fxo-{send.id}-1")
            await self.sender.ended(f"fxo-{send.id}-1", Report.lost("user-busy", cause=17))
            await self.sender.resend(tenant.id, send.id, requested_by=sent_by)
        await self.taken(send.id, 2 if busy_first else 1, station)
        return send.id

    async def taken(self, send_id: str, attempt: int = 1, station: str = "") -> None:
        """The send's ``attempt`` answered and its pages taken whole by a machine that named
        itself ``station`` (what Asterisk reports after SendFax)."""
        async with self.rt.sessions() as s:
            send = await s.get(FaxSend, send_id)
            assert send is not None
        channel = f"fxo-{send_id}-{attempt}"
        await self.dialled(channel)
        assert await self.sender.answered(channel) is not None
        await self.sender.ended(channel, Report("SUCCESS", send.pages, "", station, "OK"))

    async def dialled(self, attempt: str) -> None:
        async def dialled() -> bool:
            return attempt in self.ari.originated

        await eventually(dialled, 10, f"attempt {attempt} to be dialled")

    async def handled_by(self, contact_id: str, username: str) -> str:
        """The fax's contact as an agent completed it; her name."""
        async with self.rt.sessions() as s:
            contact = await s.get(Contact, contact_id)
            assert contact is not None
            agent = await s.scalar(select(Agent).where(Agent.tenant_id == contact.tenant_id,
                                                       Agent.username == username))
            assert agent is not None
            contact.agent_id, contact.state = agent.id, "ended"
            await s.commit()
            return agent.display_name


@pytest.fixture
async def faxes(rt: Runtime, tmp_path: Path) -> Any:
    found = Faxes(rt, tmp_path / "spool")
    found.spool.mkdir()
    await found.numbers()
    yield found
    await found.sender.close()


def rows(text: str) -> list[tuple[str, str, str]]:
    return FAX_ROW.findall(text)


async def as_supervisor(client: TestClient, rt: Runtime) -> None:
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])  # type: ignore[attr-defined]


async def test_the_supervisor_sees_her_tenants_faxes_newest_first(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    partial = await faxes.receive("acme", "15550177", pages=2, status="FAILED",
                                  station="ACME BRANCH", error="HANGUP",
                                  detail="remote hung up")
    whole = await faxes.receive("acme", "15550199", station="ADA HOME")
    alice = await faxes.handled_by(whole, "alice")
    document = pdf_of(fax_pages(2))
    sent = await faxes.send("acme", "+12015550100", document, busy_first=True,
                            station="+1 201 555 0100")
    theirs = await faxes.receive("globex", "15550166", station="globex-private-7f3a")
    theirs_sent = await faxes.send("globex", "+12015550101", document)

    await as_supervisor(client, rt)
    supervisor = await (await client.get("/supervisor")).text()
    assert 'href="/supervisor/faxes"' in supervisor
    resp = await client.get("/supervisor/faxes")
    assert resp.status == 200
    text = await resp.text()
    assert rows(text) == [(sent, "sent", "sent"), (whole, "received", "received"),
                          (partial, "received", "partial")]
    assert "3 faxes" in text
    # What came, from whom, and what went wrong (Asterisk's reason and words).
    assert (cell(text, partial, "number"), cell(text, partial, "station"),
            cell(text, partial, "pages")) == ("15550177", "ACME BRANCH", "2")
    assert cell(text, partial, "status") == "partial HANGUP: remote hung up"
    assert cell(text, whole, "agent") == alice
    assert cell(text, partial, "agent") == "–"  # still waiting for an agent
    # A sent fax: the number it went to, the machine that took it, who asked, each attempt.
    assert (cell(text, sent, "number"), cell(text, sent, "station"),
            cell(text, sent, "agent")) == ("+12015550100", "+1 201 555 0100", "API (tenant token)")
    status = cell(text, sent, "status")
    assert status.startswith("sent failed, 0 of 2 pages, user-busy (2026-07-06 ")
    assert "sent, 2 of 2 pages (2026-07-06 " in status
    # The contact's page and the document, through the supervisor's session.
    assert f'href="/agent/contacts/{whole}"' in text
    assert (await client.get(f"/agent/contacts/{whole}")).status == 200
    for path in (f"/supervisor/faxes/{whole}/pdf", f"/supervisor/faxes/{partial}/pdf"):
        assert f'href="{path}"' in text
        pdf = await client.get(path)
        assert (pdf.status, pdf.content_type) == (200, "application/pdf")
        assert (await pdf.read()).startswith(b"%PDF")
    assert f'href="/supervisor/faxes/outbound/{sent}/pdf"' in text
    pdf = await client.get(f"/supervisor/faxes/outbound/{sent}/pdf")
    assert (pdf.status, await pdf.read()) == (200, document)
    # Another tenant's faxes are neither shown nor served.
    assert theirs not in text and theirs_sent not in text and "globex" not in text
    for path in (f"/supervisor/faxes/{theirs}/pdf", f"/supervisor/faxes/outbound/{theirs_sent}/pdf",
                 f"/supervisor/faxes/outbound/{theirs}/pdf", "/supervisor/faxes/nope/pdf"):
        refused = await client.get(path)
        assert (refused.status, (await refused.json())["error"]) == (404, "fax-not-found"), path


async def test_filters_and_pages(client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    # Monday: 26 faxes that never came (no page), then Tuesday one that did and one sent.
    failed = [await faxes.receive("acme", "15550166", pages=0, status="FAILED",
                                  error="NO_FAX", detail="no fax") for _ in range(26)]
    faxes.clock.now = MONDAY + dt.timedelta(days=1)
    whole = await faxes.receive("acme", "15550177")
    sent = await faxes.send("acme", "+12015550100", pdf_of(fax_pages(1)))
    await faxes.receive("globex", "15550177")  # another tenant's, matching every filter

    await as_supervisor(client, rt)

    async def listed(query: str) -> tuple[list[str], str]:
        resp = await client.get("/supervisor/faxes" + query)
        assert resp.status == 200, await resp.text()
        text = await resp.text()
        return [fax_id for fax_id, _, _ in rows(text)], text

    everything = [sent, whole, *reversed(failed)]
    first, text = await listed("?size=25")
    assert first == everything[:25]
    assert "28 faxes" in text and "page 1 of 2" in text and 'id="newer"' not in text
    older = html.unescape(re.search(r'id="older" href="([^"]+)"', text)[1])  # type: ignore[index]
    assert older == "?size=25&page=2"
    second, text = await listed(older)
    assert second == everything[25:] and 'id="older"' not in text
    assert (await listed("?page=3&size=25"))[0] == []  # past the end: nothing, no error

    assert (await listed("?direction=sent"))[0] == [sent]
    assert (await listed("?direction=received&status=received"))[0] == [whole]
    assert (await listed("?status=failed"))[0] == list(reversed(failed))
    assert (await listed("?status=sent"))[0] == [sent]
    assert (await listed("?direction=received&status=sent"))[0] == []
    assert (await listed("?from=2026-07-07&to=2026-07-07"))[0] == [sent, whole]
    assert (await listed("?to=2026-07-06"))[0] == list(reversed(failed))
    assert (await listed("?from=2026-07-08"))[0] == []
    assert (await listed("?number=0177"))[0] == [whole]
    assert (await listed("?number=%2B1+201+555+0100"))[0] == [sent]
    # The filters stay on the form.
    _, text = await listed("?direction=sent&status=sent&from=2026-07-07&number=0100")
    assert '<option value="sent" selected>' in text and 'value="2026-07-07"' in text
    assert 'name="number" value="0100"' in text

    for query, error_id in (("?direction=inbound", "bad-direction"), ("?size=1000", "bad-page"),
                            ("?from=2026-07-08&to=2026-07-01", "bad-period"),
                            ("?status=%3Cscript%3Ealert(1)%3C/script%3E", "bad-status")):
        resp = await client.get("/supervisor/faxes" + query)
        text = await resp.text()
        assert (resp.status, resp.content_type) == (400, "text/html"), query
        assert f"<code>{error_id}</code>" in text and rows(text) == []
        assert "<script>alert" not in text


async def test_a_senders_own_words_are_shown_as_text(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    station = '<img src=x onerror="alert(1)">'
    number = '"><script>alert(2)</script>'
    fax_id = await faxes.receive("acme", number, pages=1, status="FAILED", station=station,
                                 error="<b>HANGUP</b>")
    remote = "<svg onload=alert(3)>"  # what the machine a sent fax reached called itself
    sent = await faxes.send("acme", "+12015550100", pdf_of(fax_pages(1)), station=remote)
    await as_supervisor(client, rt)
    text = await (await client.get("/supervisor/faxes")).text()
    assert station not in text and number not in text and "<b>HANGUP" not in text
    assert remote not in text and "&lt;svg onload=alert(3)&gt;" in text
    assert "&lt;img src=x onerror=" in text and "&lt;script&gt;alert(2)" in text
    assert (cell(text, fax_id, "station"), cell(text, fax_id, "number")) == (station, number)
    assert cell(text, sent, "station") == remote


async def test_no_session_no_list_and_no_document(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    fax_id = await faxes.receive("acme", "15550177")
    sent = await faxes.send("acme", "+12015550100", pdf_of(fax_pages(1)))
    page = await client.get("/supervisor/faxes", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/agent/login")
    for path in (f"/supervisor/faxes/{fax_id}/pdf", f"/supervisor/faxes/outbound/{sent}/pdf"):
        resp = await client.get(path)
        assert (resp.status, (await resp.json())["error"]) == (401, "login-required")
    for path in ("/admin/tenants/acme/faxes", f"/admin/tenants/acme/faxes/{fax_id}/pdf",
                 f"/admin/tenants/acme/faxes/outbound/{sent}/pdf"):
        resp = await client.get(path, allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, "/admin/login"), path
    # An agent who is not a supervisor: refused too.
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])  # type: ignore[attr-defined]
    for path in ("/supervisor/faxes", f"/supervisor/faxes/{fax_id}/pdf",
                 f"/supervisor/faxes/outbound/{sent}/pdf"):
        resp = await client.get(path)
        assert (resp.status, (await resp.json())["error"]) == (403, "supervisors-only"), path


async def test_the_admin_pages_list_one_tenants_faxes(
        client: TestClient, rt: Runtime, faxes: Faxes) -> None:
    ours = await faxes.receive("acme", "15550177", station="ACME BRANCH")
    sent = await faxes.send("acme", "+12015550100", pdf_of(fax_pages(1)), station="LAW FIRM 2",
                            sent_by="admin-token")
    theirs = await faxes.receive("globex", "15550166", station="GLOBEX HQ")

    await admin_login(client, rt.config.admin_token or "")
    tenant_page = await (await client.get("/admin/tenants/acme")).text()
    assert 'href="/admin/tenants/acme/faxes"' in tenant_page
    text = await (await client.get("/admin/tenants/acme/faxes")).text()
    assert [r[0] for r in rows(text)] == [sent, ours]
    assert (cell(text, sent, "station"), cell(text, sent, "agent")) == ("LAW FIRM 2",
                                                                        "API (admin token)")
    assert "GLOBEX HQ" not in text and theirs not in text
    assert f'<span class="contact">{ours}</span>' in text  # no agent session: no contact link
    for path in (f"/admin/tenants/acme/faxes/{ours}/pdf",
                 f"/admin/tenants/acme/faxes/outbound/{sent}/pdf"):
        assert f'href="{path}"' in text
        assert (await client.get(path)).status == 200
    # The admin sees globex's on globex's page; through acme's path, none of globex's.
    text = await (await client.get("/admin/tenants/globex/faxes")).text()
    assert [r[0] for r in rows(text)] == [theirs]
    resp = await client.get(f"/admin/tenants/acme/faxes/{theirs}/pdf")
    assert (resp.status, (await resp.json())["error"]) == (404, "fax-not-found")

    # A session of acme's own token: acme's faxes, never globex's.
    client.session.cookie_jar.clear()
    await admin_login(client, rt.demo_secrets["acme.token"])  # type: ignore[attr-defined]
    assert [r[0] for r in rows(await (await client.get("/admin/tenants/acme/faxes")).text())] \
        == [sent, ours]
    for path in ("/admin/tenants/globex/faxes", f"/admin/tenants/globex/faxes/{theirs}/pdf"):
        resp = await client.get(path)
        assert (resp.status, (await resp.json())["error"]) == (403, "wrong-tenant"), path
    resp = await client.get(f"/admin/tenants/acme/faxes/{theirs}/pdf")
    assert resp.status == 404

