"""The reports API and page over a known event log: figures, CSV, who may see what, errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import internal_app
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact
from ccari.storage.models import AgentStateEvent
from ccari.tenants import repo as tenants_repo
from tests.supervisor.test_supervisor import login
from tests.support.browser import chromium
from tests.support.listener import listening

# An hour two hours back, on the quarter: whole 15-minute intervals whatever the tenant's zone.
BASE = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(minute=0, second=0,
                                                                   microsecond=0)
RANGE = {"from": BASE.isoformat(), "to": (BASE + dt.timedelta(hours=1)).isoformat(),
         "interval": "15m"}


async def story(rt, tenant: str, skill: str, queued: float,  # noqa: F811
                *facts: tuple[float, Fact, dict], kind_notes: tuple = ()) -> str:
    """A contact queued ``queued`` s after BASE, then moved by each (s after BASE, fact, fields)."""
    async with rt.sessions() as s:
        t = await tenants_repo.by_slug(s, tenant)
        at = BASE + dt.timedelta(seconds=queued)
        c = await repo.create(s, tenant_id=t.id, medium="voice", state="queued", arrived_at=at,
                              queued_at=at, caller_number="15550199", attributes={"skill": skill})
        for when, fact, fields in facts:
            await repo.apply(s, c, fact, at=BASE + dt.timedelta(seconds=when), **fields)
        for when, kind, data in kind_notes:
            await repo.log(s, c, kind, BASE + dt.timedelta(seconds=when), **data)
        await s.commit()
    return c.id


async def known_log(rt) -> int:  # noqa: F811
    async with rt.sessions() as s:
        alice = await agents_repo.by_login(s, "acme", "alice")
    # answered after 15 s, held 20 s, talked 60 s, wrap-up 30 s
    await story(rt, "acme", "sales", 10, (20, Fact.OFFERED, {"agent_id": alice.id}),
                (25, Fact.ANSWERED, {}), (105, Fact.ENDED, {}),
                kind_notes=((40, "held", {"agent_id": alice.id}),
                            (60, "resumed", {"agent_id": alice.id}),
                            (135, "wrap-up", {"agent_id": alice.id})))
    await story(rt, "acme", "sales", 100, (112, Fact.CUSTOMER_LEFT, {}))  # abandoned after 12 s
    await story(rt, "acme", "<b>vip</b>", 1000, (1043, Fact.CUSTOMER_LEFT, {}))  # 43 s, 2nd quarter
    await story(rt, "globex", "service", 10, (30, Fact.CUSTOMER_LEFT, {}))
    return alice.id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_report_as_json_and_csv_for_the_tenant_only(rt, aiohttp_client):  # noqa: F811
    await known_log(rt)
    client = await aiohttp_client(internal_app(rt))
    acme = bearer(rt.demo_secrets["acme.token"])

    assert (await client.get("/api/reports", params=RANGE)).status == 401
    foreign = await client.get("/api/reports", params={**RANGE, "tenant": "globex"}, headers=acme)
    assert foreign.status == 403 and (await foreign.json())["error"] == "wrong-tenant"

    data = await (await client.get("/api/reports", params=RANGE, headers=acme)).json()
    assert data["tenant"] == "acme" and data["service_level_s"] == 20.0
    [first] = [r for r in data["rows"] if r["key"] == "sales"]
    assert dt.datetime.fromisoformat(first["start"]) == BASE
    assert (first["offered"], first["answered"], first["abandoned"]) == (2, 1, 1)
    assert first["service_level"] == 50.0 and first["asa_s"] == 15.0
    assert first["abandon_waits_s"] == [12.0]
    assert (first["talk_s"], first["hold_s"], first["wrap_s"]) == (60.0, 20.0, 30.0)
    assert first["handle_s"] == 110.0 and first["aht_s"] == 110.0 and first["transfers"] == 0
    totals = [r for r in data["rows"] if r["key"] == "all"]
    assert [t["offered"] for t in totals] == [2, 1, 0, 0]  # every quarter, even empty
    assert [t["abandoned"] for t in totals] == [1, 1, 0, 0]
    assert "service" not in {r["key"] for r in data["rows"]}  # globex's queue

    resp = await client.get("/api/reports", params={**RANGE, "format": "csv"}, headers=acme)
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = await resp.text()
    assert text.startswith("start,end,key,name,offered,answered,abandoned,service_level,")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == len(data["rows"])
    vip = next(r for r in table if r["key"] == "<b>vip</b>")
    assert (vip["offered"], vip["abandoned"], vip["abandon_max_wait_s"]) == ("1", "1", "43.0")
    assert vip["service_level"] == "0.0" and vip["asa_s"] == ""

    medium = await (await client.get("/api/reports", params={**RANGE, "by": "medium"},
                                     headers=acme)).json()
    assert [r["offered"] for r in medium["rows"] if r["key"] == "voice"] == [2, 1]

    # the admin token names the tenant; globex's report has globex's contact only
    admin = bearer(rt.config.admin_token)
    unnamed = await client.get("/api/reports", params=RANGE, headers=admin)
    assert unnamed.status == 403 and (await unnamed.json())["error"] == "tenant-required"
    globex = await (await client.get("/api/reports", params={**RANGE, "tenant": "globex"},
                                     headers=admin)).json()
    assert globex["tenant"] == "globex"
    assert [(r["key"], r["abandoned"]) for r in globex["rows"] if r["offered"]] == [
        ("service", 1), ("all", 1)]


async def test_bad_parameters_have_stable_error_ids(rt, aiohttp_client):  # noqa: F811
    client = await aiohttp_client(internal_app(rt))
    acme = bearer(rt.demo_secrets["acme.token"])
    for params, error in [
        ({"to": RANGE["to"]}, "bad-period"),
        ({**RANGE, "from": "yesterday"}, "bad-period"),
        ({**RANGE, "from": RANGE["to"], "to": RANGE["from"]}, "bad-period"),
        ({**RANGE, "interval": "week"}, "bad-interval"),
        ({**RANGE, "by": "site"}, "bad-dimension"),
        ({**RANGE, "format": "xml"}, "bad-format"),
        ({**RANGE, "from": "2020-01-01", "to": "2026-01-01"}, "range-too-long"),
    ]:
        resp = await client.get("/api/reports", params=params, headers=acme)
        assert resp.status == 400, params
        assert (await resp.json())["error"] == error, params


async def test_supervisors_see_their_agents_time_per_state(rt, aiohttp_client):  # noqa: F811
    alice_id = await known_log(rt)
    client = await aiohttp_client(internal_app(rt))
    assert (await client.get("/supervisor/api/reports", params=RANGE)).status == 401
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])
    refused = await client.get("/supervisor/api/reports", params=RANGE)
    assert refused.status == 403 and (await refused.json())["error"] == "supervisors-only"

    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    data = await (await client.get("/supervisor/api/reports",
                                   params={**RANGE, "by": "agent"})).json()
    alice = [r for r in data["rows"] if r["key"] == str(alice_id)]
    assert [(r["name"], r["answered"], r["talk_s"], r["hold_s"], r["wrap_s"]) for r in alice] \
        == [("Alice Sales", 1, 60.0, 20.0, 30.0)]

    # the router's state changes are logged: alice goes ready now, then not ready
    async with rt.sessions() as s:
        row = await agents_repo.by_login(s, "acme", "alice")
    before = dt.datetime.now(dt.UTC)
    await rt.queue.set_presence(row, "ready")
    await rt.queue.set_presence(row, "not_ready")
    now = {"from": before.isoformat(), "to": (before + dt.timedelta(hours=1)).isoformat(),
           "interval": "hour", "by": "agent"}
    data = await (await client.get("/supervisor/api/reports", params=now)).json()
    alice = next(r for r in data["rows"] if r["key"] == str(alice_id))
    assert alice["states_s"]["not_ready"] > 0 and alice["states_s"]["busy"] == 0
    assert alice["occupancy"] in (0.0, None)  # ready a moment, never working
    async with rt.sessions() as s:
        logged = (await s.scalars(select(AgentStateEvent.state)
                                  .where(AgentStateEvent.agent_id == alice_id)
                                  .order_by(AgentStateEvent.id))).all()
    assert logged[-2:] == ["ready", "not_ready"]


async def test_an_agent_deleted_just_after_logging_out_does_not_stop_the_state_log(
        rt, aiohttp_client):  # noqa: F811
    """Log out, then delete, within the log's second: her last state cannot be written (she
    is gone); the others' are, and the report still answers."""
    client = await aiohttp_client(internal_app(rt))
    acme = bearer(rt.demo_secrets["acme.token"])
    async with rt.sessions() as s:
        vera = await agents_repo.by_login(s, "acme", "vera")
        bob = await agents_repo.by_login(s, "acme", "bob")
    before = dt.datetime.now(dt.UTC)
    await rt.queue.set_presence(vera, "ready")
    await rt.queue.set_presence(vera, "logged_out")
    gone = await client.delete("/api/tenants/acme/agents/vera", headers=acme)
    assert gone.status == 200, await gone.text()
    await rt.queue.set_presence(bob, "ready")
    await rt.queue.set_presence(bob, "not_ready")
    now = {"from": before.isoformat(), "to": (before + dt.timedelta(hours=1)).isoformat(),
           "interval": "hour", "by": "agent"}
    resp = await client.get("/api/reports", params=now, headers=acme)
    assert resp.status == 200, await resp.text()
    assert str(vera.id) not in {r["key"] for r in (await resp.json())["rows"]}
    async with rt.sessions() as s:
        logged = (await s.scalars(select(AgentStateEvent.state)
                                  .where(AgentStateEvent.agent_id == bob.id)
                                  .order_by(AgentStateEvent.id))).all()
    assert logged[-2:] == ["ready", "not_ready"]
    await rt.queue.set_presence(bob, "ready")  # and what comes after is written too
    await client.get("/api/reports", params=now, headers=acme)
    async with rt.sessions() as s:
        last = await s.scalar(select(AgentStateEvent.state).where(
            AgentStateEvent.agent_id == bob.id).order_by(AgentStateEvent.id.desc()).limit(1))
    assert last == "ready"


async def test_the_page_escapes_and_links_its_csv(rt, aiohttp_client):  # noqa: F811
    await known_log(rt)
    client = await aiohttp_client(internal_app(rt))
    resp = await client.get("/supervisor/reports", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/agent/login"
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    page = await (await client.get("/supervisor/reports", params=RANGE)).text()
    assert "<b>vip</b>" not in page and "&lt;b&gt;vip&lt;/b&gt;" in page
    link = re.search(r'id="csv" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "format=csv" in link
    resp = await client.get(link)
    assert resp.status == 200 and resp.content_type == "text/csv"


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_page_in_chromium_shows_the_figures_and_the_chart(rt, db_url):  # noqa: F811
    from tests.support.browser import agent_login

    await known_log(rt)
    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await agent_login(page, base, "sam", rt.demo_secrets["acme.sam.web"], ready=False)
            query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in RANGE.items())
            await page.goto(f"{base}/supervisor/reports?{query}")
            await page.wait_for_selector("#chart[data-drawn='2'] canvas")
            sales = "#report tr[data-key=sales]"
            assert await page.text_content(f"{sales} .offered") == "2"
            assert await page.text_content(f"{sales} .answered") == "1"
            assert await page.text_content(f"{sales} .abandon-waits") == "12.0"
            assert await page.text_content(f"{sales} .sl") == "50.0 %"
            assert await page.text_content(f"{sales} .asa") == "15.0 s"
            assert await page.text_content(f"{sales} .hold") == "20.0"
            assert await page.text_content("#report tr[data-key='<b>vip</b>'] .key") == "<b>vip</b>"
            assert await page.locator("#report tr.total").count() == 4
            # the form asks again: by agent
            await page.select_option("select[name=by]", "agent")
            await page.click("#query button[type=submit]")
            await page.wait_for_selector("#report th:text('Occupancy')")
            assert await page.locator("#report td.key:text('Alice Sales')").count() == 1
            # ... with its chart: the minutes in each of the five states
            await page.wait_for_selector("#chart[data-drawn='5'] canvas")
            assert errors == []
