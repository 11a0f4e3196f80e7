"""The wallboard's API over a known event log: the figures, who may see them, the threshold."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ccari.app import internal_app
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact
from ccari.tenants import repo as tenants_repo
from ccari.wallboard.http import WALLBOARD
from tests.supervisor.test_supervisor import login


async def story(rt, tenant: str, medium: str, skill: str, queued_ago: float,  # noqa: F811
                *facts: tuple[float, Fact]) -> str:
    """A contact queued ``queued_ago`` seconds ago, then moved by each (seconds ago, fact)."""
    now = dt.datetime.now(dt.UTC)
    async with rt.sessions() as s:
        t = await tenants_repo.by_slug(s, tenant)
        at = now - dt.timedelta(seconds=queued_ago)
        c = await repo.create(s, tenant_id=t.id, medium=medium, state="queued", arrived_at=at,
                              queued_at=at, caller_number="15550199", attributes={"skill": skill})
        for ago, fact in facts:
            await repo.apply(s, c, fact, at=now - dt.timedelta(seconds=ago))
        await s.commit()
    return c.id


def queue(data: dict, medium: str, skill: str) -> dict:
    return next(q for q in data["queues"] if (q["medium"], q["skill"]) == (medium, skill))


async def test_figures_of_the_tenant_only_and_its_own_threshold(rt, aiohttp_client):  # noqa: F811
    await story(rt, "acme", "voice", "sales", 100, (95, Fact.OFFERED), (92, Fact.ANSWERED))
    await story(rt, "acme", "voice", "sales", 100, (60, Fact.CUSTOMER_LEFT))
    await story(rt, "acme", "voice", "sales", 50, (45, Fact.OFFERED), (10, Fact.ANSWERED))
    await story(rt, "acme", "chat", "support", 30)
    await story(rt, "globex", "voice", "service", 200)
    client = await aiohttp_client(internal_app(rt))
    await client.app[WALLBOARD].refresh()

    assert (await client.get("/supervisor/api/wallboard")).status == 401
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])
    refused = await client.get("/supervisor/api/wallboard")
    assert refused.status == 403 and (await refused.json())["error"] == "supervisors-only"

    csrf = await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    data = await (await client.get("/supervisor/api/wallboard")).json()
    assert data["service_level_s"] == 20.0
    sales = queue(data, "voice", "sales")
    assert (sales["window"]["answered"], sales["window"]["abandoned"]) == (2, 1)
    assert sales["window"]["service_level"] == 33.3  # 8 s in, 40 s out, one abandoned
    assert sales["window"]["abandon_rate"] == 33.3
    assert sales["window"]["asa_s"] == 24.0
    assert sales["waiting"] == 0
    chat = queue(data, "chat", "support")
    assert chat["waiting"] == 1 and 29 <= chat["longest_wait_s"] <= 40
    total = queue(data, "all", "all")
    assert total["waiting"] == 1 and total["window"]["entered"] == 4
    # globex's contact and its agent are not acme's business
    assert {q["skill"] for q in data["queues"]} == {"sales", "support", "all"}
    assert {a["name"] for a in data["agents"]} == {
        "Alice Sales", "Bob Support", "Sam Supervisor", "Vera Video"}
    states = {a["name"]: a["state"] for a in data["agents"]}
    assert states["Sam Supervisor"] == "not_ready"  # logged in, not ready yet
    assert sum(data["agents_by_state"].values()) == 4
    assert data["agents_by_state"]["not_ready"] == list(states.values()).count("not_ready")

    # the tenant's own threshold: the 40 s answer is within 45 s
    no_csrf = await client.put("/supervisor/api/wallboard/settings", json={"service_level_s": 45})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf-failed"
    for bad in ("soon", 0, 5000, True, None):
        resp = await client.put("/supervisor/api/wallboard/settings",
                                json={"service_level_s": bad}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 400 and (await resp.json())["error"] == "bad-service-level"
    ok = await client.put("/supervisor/api/wallboard/settings", json={"service_level_s": 45},
                          headers={"X-CSRF-Token": csrf})
    assert ok.status == 200 and (await ok.json()) == {"service_level_s": 45.0}
    data = await (await client.get("/supervisor/api/wallboard")).json()
    assert data["service_level_s"] == 45.0
    assert queue(data, "voice", "sales")["window"]["service_level"] == 66.7


async def test_the_figures_are_rebuilt_from_the_event_log(rt, aiohttp_client):  # noqa: F811
    from ccari.wallboard.services import Wallboard

    await story(rt, "acme", "voice", "sales", 300, (290, Fact.OFFERED), (285, Fact.ANSWERED),
                (200, Fact.ENDED))
    # a zone where midnight is more than 5 minutes ago, whatever the time of the run
    zone = next(z for z in ("UTC", "Asia/Tokyo", "America/New_York")
                if 1 <= dt.datetime.now(ZoneInfo(z)).hour <= 22)
    cfg = dataclasses.replace(rt.config.wallboard, time_zone=zone)
    fresh = Wallboard(rt.sessions, rt.queue, cfg)  # as after a restart
    await fresh.refresh()
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
    sales = queue(fresh.figures(acme.id), "voice", "sales")
    assert (sales["window"]["answered"], sales["window"]["asa_s"]) == (1, 15.0)
    assert sales["today"]["answered"] == 1


async def test_contacts_over_before_the_window_are_tallied_not_kept(rt, aiohttp_client):  # noqa: F811
    from ccari.wallboard.services import Wallboard

    for _ in range(5):  # ended 20 minutes ago: outside the 15-minute window, still today
        await story(rt, "acme", "voice", "sales", 1300, (1290, Fact.OFFERED),
                    (1285, Fact.ANSWERED), (1200, Fact.ENDED))
    await story(rt, "acme", "voice", "sales", 100, (95, Fact.CUSTOMER_LEFT))
    zone = next(z for z in ("UTC", "Asia/Tokyo", "America/New_York")
                if 1 <= dt.datetime.now(ZoneInfo(z)).hour <= 22)
    cfg = dataclasses.replace(rt.config.wallboard, time_zone=zone, window_s=900)
    wallboard = Wallboard(rt.sessions, rt.queue, cfg)
    await wallboard.refresh()
    assert wallboard.board.contacts == 1  # only the one that may still count in the window
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
    sales = queue(wallboard.figures(acme.id), "voice", "sales")
    assert (sales["window"]["answered"], sales["window"]["abandoned"]) == (0, 1)
    assert (sales["today"]["answered"], sales["today"]["abandoned"]) == (5, 1)
    assert (sales["today"]["asa_s"], sales["today"]["service_level"]) == (15.0, 83.3)


async def test_the_wait_predicted_on_joining_beside_the_wait_experienced(rt, aiohttp_client):  # noqa: F811
    from ccari.agents import repo as agents_repo
    from tests.supervisor.test_supervisor import waiting

    async with rt.sessions() as s:
        alice = await agents_repo.by_login(s, "acme", "alice")
    await rt.queue.set_presence(alice, "ready")
    await waiting(rt, "acme", "voice", "15550001", 0)  # offered to alice: she is held
    second = await waiting(rt, "acme", "voice", "15550002", 0)  # waits behind
    predicted = rt.queue.view(second).predicted_wait_s
    assert 0 < predicted < 1e6
    client = await aiohttp_client(internal_app(rt))
    wallboard = client.app[WALLBOARD]
    await wallboard.refresh()  # notes the prediction as it joins the queue
    async with rt.sessions() as s:
        c = await repo.get(s, second)
        now = dt.datetime.now(dt.UTC)
        await repo.apply(s, c, Fact.OFFERED, at=now, agent_id=alice.id)
        await repo.apply(s, c, Fact.ANSWERED, at=now)
        await s.commit()
    waited = (now - c.queued_at).total_seconds()
    await wallboard.refresh()
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    data = await (await client.get("/supervisor/api/wallboard")).json()
    window = queue(data, "voice", "sales")["window"]
    assert window["predicted_wait_s"] == pytest.approx(predicted, abs=1.5)
    assert window["experienced_wait_s"] == pytest.approx(waited, abs=0.1)
    assert window["answered"] == 1 and window["experienced_wait_s"] < window["predicted_wait_s"]


async def test_the_page_and_its_websocket_are_for_the_tenants_supervisors(rt, aiohttp_client):  # noqa: F811
    await story(rt, "acme", "chat", "<b>sales</b>", 12)
    client = await aiohttp_client(internal_app(rt))
    await client.app[WALLBOARD].refresh()
    resp = await client.get("/supervisor/wallboard", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/agent/login"
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])
    assert (await client.get("/supervisor/wallboard")).status == 403
    refused = await client.get("/supervisor/wallboard/ws")
    assert refused.status == 403 and (await refused.json())["error"] == "supervisors-only"

    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    page = await (await client.get("/supervisor/wallboard")).text()
    assert "Acme Broadband" in page and 'id="total-waiting"' in page
    foreign = await client.get("/supervisor/wallboard/ws", headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and (await foreign.json())["error"] == "bad-origin"
    ws = await client.ws_connect("/supervisor/wallboard/ws")
    try:
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "wallboard"
        # the skill is data, sent as it is; the page shows it as text
        assert [q["skill"] for q in first["queues"]] == ["<b>sales</b>", "all"]
        # then pushed again without asking (every wallboard.push_every_s)
        again = await ws.receive_json(timeout=5)
        assert again["type"] == "wallboard" and again["at"] > first["at"]
    finally:
        await ws.close()
